"""Health and memory: `degraded` once memory in use passes 90% of memory_limit, measured for real."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import HealthState, QueryOutcome
from floe_tui.compute.models import parse_byte_size

Open = Callable[..., DuckDBComputePlugin]
Query = Callable[[DuckDBComputePlugin, str], list[dict[str, Any]]]
LIMIT = "64MB"
CHUNK = "INSERT INTO fill SELECT i, repeat('x', 100) || i FROM range(200000) t(i)"  # about 25 MB


def fill_memory(plugin: DuckDBComputePlugin, query: Query, deadline_s: float = 30.0) -> None:
    """Insert chunks into an in-memory table until 90% of the limit is used or DuckDB runs out."""
    query(plugin, "CREATE TABLE fill (i BIGINT, s VARCHAR)")
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        handle = plugin.execute(CHUNK, timeout=deadline_s)
        if handle.wait(deadline_s) is not QueryOutcome.COMPLETED:
            assert handle.error is not None and "Out of Memory" in handle.error.message, handle.error
            return
        memory = plugin.memory_stats()
        assert memory is not None and memory.used_fraction is not None
        if memory.used_fraction >= 0.9:
            return
    pytest.fail(f"memory did not reach 90% of {LIMIT} within {deadline_s:g} s")


@pytest.fixture
def small(open_plugin: Open, tmp_path: Path) -> DuckDBComputePlugin:
    return open_plugin({"memory_limit": LIMIT, "threads": 1, "temp_directory": str(tmp_path / "spill")})


def test_fresh_instance_is_healthy(small: DuckDBComputePlugin) -> None:
    status = small.health_check(timeout=5)

    assert status.status is HealthState.HEALTHY, status.message
    assert status.latency_ms is not None and status.latency_ms >= 0


def test_memory_past_90_percent_of_the_limit_is_degraded(small: DuckDBComputePlugin, query: Query) -> None:
    fill_memory(small, query)

    status = small.health_check(timeout=5)

    assert status.status is HealthState.DEGRADED
    assert "memory at" in status.message
    assert status.details["memory_used_bytes"] >= 0.9 * status.details["memory_limit_bytes"]


def test_memory_stats_report_tags_and_the_limit(small: DuckDBComputePlugin, query: Query) -> None:
    query(small, "CREATE TABLE t AS SELECT range AS i FROM range(1000000)")

    memory = small.memory_stats()
    [setting] = query(small, "SELECT current_setting('memory_limit') AS limit")

    assert memory is not None
    assert memory.limit_bytes == parse_byte_size(setting["limit"])
    assert memory.limit_bytes == pytest.approx(64_000_000, rel=0.001)
    assert memory.by_tag.get("IN_MEMORY_TABLE", 0) > 0
    assert memory.used_bytes == sum(memory.by_tag.values())


def test_memory_stats_need_a_connection(open_plugin: Open) -> None:
    plugin = open_plugin()
    plugin.disconnect()

    assert plugin.memory_stats() is None


def test_disconnected_target_is_unhealthy_without_raising(open_plugin: Open) -> None:
    plugin = open_plugin()
    plugin.disconnect()

    status = plugin.health_check(timeout=1)

    assert status.status is HealthState.UNHEALTHY
    assert status.message == "not connected"


def test_a_health_check_is_the_memory_reading_and_is_bounded_by_its_timeout(
    open_plugin: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's probe is its memory reading alone (one statement a poll). A reading that never comes
    back (played by blocking it: DuckDB's own statement cannot be made to hang on cue) is
    `unhealthy` on time, and the next check answers again once the engine does."""
    import threading

    plugin = open_plugin()
    readings: list[float] = []
    real_reading = plugin.memory_stats

    def counted() -> Any:
        readings.append(time.monotonic())
        return real_reading()

    monkeypatch.setattr(plugin, "memory_stats", counted)
    assert plugin.health_check(timeout=5).status is HealthState.HEALTHY
    assert len(readings) == 1  # no SELECT 1 and no second reading beside it

    release = threading.Event()
    monkeypatch.setattr(plugin, "memory_stats", lambda: release.wait(30))
    started = time.monotonic()
    status = plugin.health_check(timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert status.status is HealthState.UNHEALTHY and status.details.get("timed_out") is True
    release.set()
    monkeypatch.setattr(plugin, "memory_stats", real_reading)
    assert plugin.health_check(timeout=5).status is HealthState.HEALTHY
