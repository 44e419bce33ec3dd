"""Startup is a feature: the library and the DuckDB plugin import no console and no engine driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["textual", "pyspark", "duckdb", "pyarrow", "pandas"]


def modules_after_import(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(run.stdout))


def test_importing_the_library_and_plugins_loads_no_engine_or_console() -> None:
    loaded = modules_after_import(
        "import floe_tui.compute, floe_tui.cli, floe_tui.testing.cpu, floe_compute_duckdb\n"
        "from floe_tui.compute import discover_plugins\n"
        "discover_plugins().plugins"
    )
    assert {"floe_compute_spark", "floe_compute_snowflake"} <= loaded
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_headless_validate_imports_no_console() -> None:
    """`floe-tui validate` runs the whole headless path without loading Textual."""
    loaded = modules_after_import(
        "import contextlib, io\n"
        "from floe_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['validate'])"
    )
    assert "floe_tui.cli" in loaded and "floe_tui.governance" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("textual", "textual_fastdatatable")}


def test_a_compile_imports_no_opentelemetry() -> None:
    """OpenTelemetry is imported with the first data point an engine records, not with
    `floe_tui.compute`: a check records none (`validate`, the console's snapshot helper)."""
    loaded = modules_after_import(
        "import contextlib, io\n"
        "from floe_tui.cli import main\n"
        "from floe_tui.console.snapshot import dump\n"
        "from floe_tui.paths import default_manifests\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['validate']) == 0\n"
        "dump(default_manifests())"
    )
    assert "floe_tui.compute.telemetry" in loaded
    assert not {name for name in loaded if name.split(".")[0] == "opentelemetry"}


def test_a_check_imports_only_the_plugins_its_manifests_name(tmp_path: Path) -> None:
    """Plugins load on first use: a tree that approves DuckDB alone never imports the other four."""
    (tmp_path / "enterprise.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: acme, scope: enterprise}\n"
        "compute: {approved: [{name: duckdb}], default: duckdb}\n"
    )
    loaded = modules_after_import(
        "import contextlib, io\n"
        "from floe_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['validate', {str(tmp_path)!r}]) == 0"
    )
    plugins = {name.split(".")[0] for name in loaded if name.startswith("floe_compute_")}
    assert plugins == {"floe_compute_duckdb"}


def test_the_console_alone_is_read_without_a_parser_as_the_parser_would_read_it() -> None:
    """`floe-tui` with no argument imports no argparse and builds no parser (5 ms of the console's
    start); what it reads is what the parser reads from no arguments."""
    from floe_tui import arguments, cli

    assert vars(cli._arguments([])) == {**vars(arguments.parse([])), "kept": []}
    assert "argparse" not in modules_after_import("import floe_tui.cli")
