"""`PooledComputePlugin.engine_failure`: a health check says why the whole engine is down.

Runs on the real DuckDB plugin; only the hook's answer is scripted, standing in for an engine
whose process or server can die (Spark's own tests kill a real JVM and a real Connect server).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, HealthState


class EngineThatWasDown(DuckDBComputePlugin):
    down: ClassVar[str | None] = None
    asked_within: ClassVar[list[float]] = []

    def engine_failure(self, timeout: float) -> str | None:
        self.asked_within.append(timeout)
        return self.down


@pytest.fixture
def plugin() -> Iterator[EngineThatWasDown]:
    EngineThatWasDown.asked_within = []
    engine = EngineThatWasDown(ComputeConfig(name="d", plugin="duckdb", connection={"path": ":memory:"}))
    engine.connect()
    yield engine
    engine.disconnect()


def test_an_engine_that_answers_again_is_reported_reconnected_with_the_reason(
    plugin: EngineThatWasDown,
) -> None:
    plugin.down = "the engine process exited with code 137"
    status = plugin.health_check(timeout=2)
    assert status.status is HealthState.HEALTHY
    assert status.message == "reconnected (the engine process exited with code 137)"
    assert plugin.asked_within == [2]


def test_an_engine_still_down_reports_why_not_only_that_a_query_failed(
    plugin: EngineThatWasDown, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin.down = "the engine's server went away"
    monkeypatch.setattr(plugin, "health_via", "query")  # probe with a query, and make it fail
    monkeypatch.setattr(plugin, "health_sql", "SELECT * FROM a_table_that_is_not_there")
    status = plugin.health_check(timeout=2)
    assert status.status is HealthState.UNHEALTHY
    assert status.message == "the engine's server went away"


def test_an_engine_that_is_up_reports_the_query_alone(plugin: EngineThatWasDown) -> None:
    status = plugin.health_check(timeout=2)
    assert (status.status, status.message) == (HealthState.HEALTHY, "ok")
