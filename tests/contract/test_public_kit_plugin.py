"""The compliance suite passes a plugin written only against the public kit (SQLite)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

from floe_tui.compute import ComputeConfig, ComputePlugin
from floe_tui.testing import ComputePluginCompliance

from .sqlite_plugin import SQLitePlugin

# A recursive count that keeps SQLite's one core busy for minutes; a large streamable result.
_COUNT = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT {n}) "
LONG = _COUNT.format(n=10**12) + "SELECT max(i) FROM c"
LARGE = _COUNT.format(n=10**8) + "SELECT i FROM c"


class TestSQLiteThroughThePublicKit(ComputePluginCompliance):
    plugin_class: ClassVar[type[ComputePlugin]] = SQLitePlugin
    long_running_sql = LONG
    large_result_sql = LARGE
    run_dbt_debug = False  # no dbt-sqlite adapter is installed; the profile's shape is checked

    def make_config(self, directory: Path) -> ComputeConfig:
        return ComputeConfig(
            name="lite", plugin="sqlite", connection={"path": str(directory / "lite.sqlite")}
        )


def test_the_sqlite_plugin_imports_nothing_but_the_package() -> None:
    tree = ast.parse(Path(__file__).with_name("sqlite_plugin.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {m for m in modules if m and m.startswith("floe_tui")} == {"floe_tui.compute"}
