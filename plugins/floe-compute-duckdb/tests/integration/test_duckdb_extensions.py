"""Extensions come from their PyPI packages, never from DuckDB's download site."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, ExtensionNotInstalledError

Open = Callable[..., DuckDBComputePlugin]
Query = Callable[[DuckDBComputePlugin, str], list[dict[str, Any]]]
Target = Callable[..., ComputeConfig]


def test_iceberg_loads_with_avro_and_httpfs_from_package_files(
    open_plugin: Open, query: Query, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty ~/.duckdb: nothing installed to fall back on
    plugin = open_plugin({"extensions": ["iceberg"]})

    loaded = query(
        plugin,
        "SELECT extension_name, loaded, installed, install_mode FROM duckdb_extensions() "
        "WHERE extension_name IN ('avro', 'httpfs', 'iceberg') ORDER BY extension_name",
    )

    # Loaded, yet not installed: they came from the package files, not from a download.
    assert loaded == [
        {"extension_name": name, "loaded": True, "installed": False, "install_mode": "NOT_INSTALLED"}
        for name in ("avro", "httpfs", "iceberg")
    ]


def test_loaded_extension_answers_queries(open_plugin: Open, query: Query) -> None:
    plugin = open_plugin({"extensions": ["tpch"]})
    query(plugin, "CALL dbgen(sf = 0.001)")

    assert query(plugin, "SELECT count(*) AS n FROM region") == [{"n": 5}]


def test_extension_without_package_fails_connect_with_a_pip_hint(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "never-created.duckdb"
    plugin = DuckDBComputePlugin(target({"path": str(path), "extensions": ["spatial"]}))

    with pytest.raises(ExtensionNotInstalledError) as caught:
        plugin.connect()

    assert caught.value.code == "FLOE-C102"
    assert caught.value.hint == "pip install duckdb-extension-spatial==1.5.5"
    assert not path.exists()  # refused before the database was opened
    assert not plugin.is_connected
    assert plugin.pool_stats().in_use == 0


def test_validate_connection_reports_a_missing_extension_package(target: Target) -> None:
    plugin = DuckDBComputePlugin()

    result = plugin.validate_connection(target({"extensions": ["spatial"]}))

    assert result.success is False
    assert "FLOE-C102" in result.message
    assert "pip install duckdb-extension-spatial==1.5.5" in result.message


def test_validate_connection_accepts_packaged_extensions(target: Target) -> None:
    result = DuckDBComputePlugin().validate_connection(target({"extensions": ["iceberg", "tpch"]}))

    assert result.success is True, result.message
