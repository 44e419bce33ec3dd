"""Bad endpoints and broken servers: clear ComputeErrors within the budgets, then recovery."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import LONG_RUNNING_SQL, create_dataset
from floe_tui.compute import (
    ComputeConfig,
    ConnectionFailedError,
    ConnectTimeoutError,
    HealthState,
    QueryOutcome,
)
from floe_tui.testing import ServerProcess, free_port, wait_for

Open = Callable[[ComputeConfig], BigQueryComputePlugin]


def test_nothing_listening_at_the_api_endpoint(bq_target: Callable[..., ComputeConfig]) -> None:
    port = free_port()
    config = bq_target(connection={"api_endpoint": f"http://127.0.0.1:{port}"}, pool={"connect_timeout_s": 5})
    plugin = BigQueryComputePlugin(config)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    assert time.monotonic() - started < 5
    error = caught.value
    assert error.code == "FLOE-C300" and "connection refused" in error.message
    assert "api_endpoint" in error.hint and str(port) not in error.message
    assert plugin.health_check(timeout=1).status is HealthState.UNHEALTHY


def test_a_server_that_accepts_but_never_answers(
    new_crucible: Callable[..., ServerProcess], bq_target: Callable[..., ComputeConfig]
) -> None:
    server = new_crucible()
    server.pause()
    try:
        plugin = BigQueryComputePlugin(bq_target(server=server, pool={"connect_timeout_s": 1.5}))
        started = time.monotonic()
        with pytest.raises(ConnectTimeoutError) as caught:
            plugin.connect()
        assert time.monotonic() - started < 3.0, "connect() is bounded by connect_timeout_s"
        assert caught.value.code == "FLOE-C301" and caught.value.hint
    finally:
        server.kill()


def test_the_emulator_killed_mid_query_then_restarted(
    new_crucible: Callable[..., ServerProcess],
    bq_target: Callable[..., ComputeConfig],
    open_plugin: Open,
) -> None:
    server = new_crucible()
    plugin = open_plugin(bq_target(server=server))
    handle = plugin.execute(LONG_RUNNING_SQL, timeout=60)
    assert handle.wait_started(10)
    wait_for(lambda: plugin.pool_stats().in_use == 1, 10, "the query holds its connection")
    server.kill()
    assert handle.wait(10) is QueryOutcome.FAILED
    assert handle.error is not None and handle.error.code == "FLOE-C300"
    assert "connection lost" in handle.error.message and handle.error.hint
    down = plugin.health_check(timeout=5)
    assert down.status is HealthState.UNHEALTHY and down.message
    server.restart()
    create_dataset(server)  # a restarted emulator starts empty
    again = plugin.execute("SELECT 1 AS one", timeout=30)
    assert again.fetch_all().to_pylist() == [{"one": 1}]
    assert plugin.pool_stats().reconnects >= 1
    assert plugin.health_check(timeout=10).status is HealthState.HEALTHY
