"""Shared fixtures of the DuckDB plugin's tests: real DuckDB databases, no mocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig

TargetFactory = Callable[..., ComputeConfig]
PluginFactory = Callable[..., DuckDBComputePlugin]


def build_target(connection: dict[str, Any] | None = None, **fields: Any) -> ComputeConfig:
    return ComputeConfig.from_mapping({"name": "duck", "connection": connection or {}, **fields})


@pytest.fixture
def target() -> TargetFactory:
    """`target({"path": ...}, credentials=...)` -> a validated ComputeConfig named `duck`."""
    return build_target


@pytest.fixture
def open_plugin() -> Iterator[PluginFactory]:
    """Connect a plugin for the test; disconnect it afterwards and check that nothing leaked."""
    opened: list[DuckDBComputePlugin] = []

    def open_(connection: dict[str, Any] | None = None, **fields: Any) -> DuckDBComputePlugin:
        plugin = DuckDBComputePlugin(build_target(connection, **fields))
        plugin.connect()
        opened.append(plugin)
        return plugin

    yield open_
    for plugin in opened:
        plugin.disconnect()
        stats = plugin.pool_stats()
        assert (stats.size, stats.in_use, stats.created - stats.closed) == (0, 0, 0), stats


def rows(plugin: DuckDBComputePlugin, sql: str) -> list[dict[str, Any]]:
    """Run `sql` to completion and return its rows as dicts."""
    table = plugin.execute(sql, timeout=30).fetch_all()
    result: list[dict[str, Any]] = table.to_pylist()
    return result


@pytest.fixture
def query() -> Callable[[DuckDBComputePlugin, str], list[dict[str, Any]]]:
    return rows
