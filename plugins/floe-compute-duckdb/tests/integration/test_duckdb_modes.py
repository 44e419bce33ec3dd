"""In-memory and file databases, read_only, and the settings DuckDB receives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, QueryError, QueryOutcome
from floe_tui.compute.models import parse_byte_size

Open = Callable[..., DuckDBComputePlugin]
Query = Callable[[DuckDBComputePlugin, str], list[dict[str, Any]]]


def test_in_memory_tables_are_shared_by_every_pooled_cursor(open_plugin: Open, query: Query) -> None:
    plugin = open_plugin({"path": ":memory:"})
    query(plugin, "CREATE TABLE t AS SELECT 42 AS answer")
    # An unread stream keeps its cursor busy, so the next query runs on a second cursor.
    busy = plugin.execute("SELECT * FROM range(10000000)", timeout=30)
    assert busy.wait_started(10)

    assert query(plugin, "SELECT answer FROM t") == [{"answer": 42}]
    assert plugin.pool_stats().created == 2
    busy.cancel()
    assert busy.wait(10) is QueryOutcome.CANCELLED


def test_in_memory_data_is_gone_after_reconnecting(open_plugin: Open, query: Query) -> None:
    plugin = open_plugin({"path": ":memory:"})
    query(plugin, "CREATE TABLE t AS SELECT 1 AS i")
    plugin.disconnect()
    plugin.connect()

    assert query(plugin, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 't'") == [{"n": 0}]


def test_file_data_survives_disconnect_and_reconnect(open_plugin: Open, query: Query, tmp_path: Path) -> None:
    plugin = open_plugin({"path": str(tmp_path / "w.duckdb")})
    query(plugin, "CREATE TABLE orders AS SELECT range AS id FROM range(1000)")
    plugin.disconnect()
    assert not plugin.is_connected
    plugin.connect()

    assert query(plugin, "SELECT count(*) AS n, max(id) AS top FROM orders") == [{"n": 1000, "top": 999}]


@pytest.fixture
def existing_file(open_plugin: Open, query: Query, tmp_path: Path) -> str:
    path = str(tmp_path / "existing.duckdb")
    writer = open_plugin({"path": path})
    query(writer, "CREATE TABLE t AS SELECT 'kept' AS v")
    writer.disconnect()
    return path


def test_read_only_file_can_be_read(open_plugin: Open, query: Query, existing_file: str) -> None:
    reader = open_plugin({"path": existing_file, "read_only": True})

    assert query(reader, "SELECT v FROM t") == [{"v": "kept"}]


def test_read_only_file_refuses_writes_as_a_failed_query(open_plugin: Open, existing_file: str) -> None:
    reader = open_plugin({"path": existing_file, "read_only": True})

    handle = reader.execute("INSERT INTO t VALUES ('new')", timeout=30)

    assert handle.wait(30) is QueryOutcome.FAILED
    assert isinstance(handle.error, QueryError)
    assert "read-only" in handle.error.message
    with pytest.raises(QueryError):
        handle.raise_for_outcome()
    assert reader.pool_stats().in_use == 0


def test_read_only_on_a_missing_file_is_a_config_error(
    tmp_path: Path, target: Callable[..., ComputeConfig]
) -> None:
    missing = tmp_path / "missing.duckdb"
    plugin = DuckDBComputePlugin(target({"path": str(missing), "read_only": True}))

    with pytest.raises(ConfigError) as caught:
        plugin.connect()

    assert caught.value.code == "FLOE-C100"
    assert "does not exist" in caught.value.message
    assert not missing.exists()
    assert not plugin.is_connected


def test_settings_reach_duckdb(open_plugin: Open, query: Query, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    plugin = open_plugin({"memory_limit": "64MB", "threads": 2, "temp_directory": str(spill)})

    [settings] = query(
        plugin,
        "SELECT current_setting('memory_limit') AS memory_limit, current_setting('threads') AS threads, "
        "current_setting('temp_directory') AS temp_directory",
    )

    assert parse_byte_size(settings["memory_limit"]) == pytest.approx(64_000_000, rel=0.001)
    assert settings["threads"] == 2
    assert settings["temp_directory"] == str(spill)


def test_extensions_are_not_installed_from_the_network(open_plugin: Open, query: Query) -> None:
    plugin = open_plugin()

    assert query(plugin, "SELECT current_setting('autoinstall_known_extensions') AS auto") == [
        {"auto": False}
    ]
