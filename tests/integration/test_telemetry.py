"""The OpenTelemetry instruments of DESIGN section 6, read through an in-memory reader after
real DuckDB queries, timeouts, cancels and pool waits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, QueryOutcome
from floe_tui.compute import telemetry as compute_telemetry

LONG = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    compute_telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    yield reader
    compute_telemetry.use_meter_provider(None)


def points(reader: InMemoryMetricReader, target: str) -> dict[str, list[Any]]:
    """Data points of one target (pools of other tests may still be open in this process)."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    assert not any("/" in str(value) for value in point.attributes.values()), metric.name
                    if point.attributes.get("floe.compute.target") == target:
                        found.setdefault(metric.name, []).append(point)
    return found


def test_instruments_after_queries_timeouts_cancels_and_pool_waits(
    reader: InMemoryMetricReader, tmp_path: Any
) -> None:
    database = tmp_path / "secret-project" / "warehouse.duckdb"
    database.parent.mkdir()
    config = ComputeConfig.from_mapping(
        {
            "name": "warehouse",
            "plugin": "duckdb",
            "connection": {"path": str(database), "memory_limit": "512MB"},
        }
    )
    with DuckDBComputePlugin(config) as plugin:
        plugin.execute("SELECT 1").wait(10)
        timed_out = plugin.execute(LONG, timeout=0.3)
        assert timed_out.wait(10) is QueryOutcome.TIMED_OUT
        cancelled = plugin.execute(LONG, timeout=60)
        assert cancelled.wait_started(10)
        cancelled.cancel()
        assert cancelled.wait(10) is QueryOutcome.CANCELLED
        plugin.health_check(timeout=5)
        found = points(reader, "warehouse")

    expected = {
        "db.client.operation.duration",
        "db.client.connection.count",
        "db.client.connection.max",
        "db.client.connection.pending_requests",
        "db.client.connection.wait_time",
        "floe.compute.health.latency",
        "floe.compute.health.status",
        "floe.compute.query.timeouts",
        "floe.compute.query.cancellations",
        "floe.compute.memory.usage",
    }
    assert expected <= set(found)
    assert sum(p.value for p in found["floe.compute.query.timeouts"]) == 1
    assert sum(p.value for p in found["floe.compute.query.cancellations"]) == 1
    # Three queries; the health probe checks a pooled cursor (DuckDB: health_via = "check"), no query.
    assert sum(p.count for p in found["db.client.operation.duration"]) == 3
    states = {p.attributes["db.client.connection.state"] for p in found["db.client.connection.count"]}
    assert states == {"idle", "used"}
    for name, data_points in found.items():
        for point in data_points:
            assert point.attributes["db.system.name"] == "duckdb", name
            assert point.attributes["floe.compute.target"] == "warehouse", name
            assert not any("secret-project" in str(v) or "/" in str(v) for v in point.attributes.values())


def test_pool_timeouts_and_reconnects_are_counted(reader: InMemoryMetricReader) -> None:
    config = ComputeConfig.from_mapping(
        {"name": "duckdb", "pool": {"size": 1, "acquire_timeout_s": 0.1}, "connection": {"threads": 1}}
    )
    with DuckDBComputePlugin(config) as plugin:
        blocker = plugin.execute(LONG, timeout=60)
        assert blocker.wait_started(10)
        starved = plugin.execute("SELECT 1")
        assert starved.wait(10) is QueryOutcome.FAILED
        blocker.cancel()
        assert blocker.wait(10) is QueryOutcome.CANCELLED
        found = points(reader, "duckdb")
    assert sum(p.value for p in found["db.client.connection.timeouts"]) == 1
