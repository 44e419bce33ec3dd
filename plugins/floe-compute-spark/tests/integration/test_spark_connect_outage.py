"""The Spark Connect server goes away and comes back: health says why, the next acquire reconnects.

One scenario (the run's server is stopped once and restarted on the same port), one fact per test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.server import LocalConnectServer
from floe_compute_spark.testing import CONNECT_SERVER_MARK, java_processes
from floe_tui.compute import ComputeConfig, HealthState, QueryOutcome

HEALTH_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def outage(
    connect_server: LocalConnectServer, remote_target: Callable[..., ComputeConfig]
) -> Iterator[dict[str, Any]]:
    plugin = SparkComputePlugin(remote_target("outage", pool={"size": 1, "acquire_timeout_s": 60}))
    plugin.connect()
    facts: dict[str, Any] = {"before": plugin.execute("SELECT 1 AS one", timeout=30).fetch_all().to_pylist()}
    connect_server.stop()
    facts["servers_while_down"] = len(java_processes(CONNECT_SERVER_MARK))
    started = time.monotonic()
    facts["health"] = plugin.health_check(timeout=HEALTH_TIMEOUT_S)
    facts["health_s"] = time.monotonic() - started
    failed = plugin.execute("SELECT 1", timeout=30)
    failed.wait(60)
    facts["query_while_down"] = failed
    connect_server.start()
    after = plugin.execute("SELECT 1 AS one", timeout=30)
    facts["after"] = after.fetch_all().to_pylist()
    facts["stats"] = plugin.pool_stats()
    facts["health_after"] = plugin.health_check(timeout=30)
    yield facts
    plugin.disconnect()


def test_the_server_is_really_gone(outage: dict[str, Any]) -> None:
    assert outage["before"] == [{"one": 1}] and outage["servers_while_down"] == 0


def test_health_is_unhealthy_with_the_reason(outage: dict[str, Any]) -> None:
    status = outage["health"]
    assert status.status is HealthState.UNHEALTHY and "Spark Connect server" in status.message
    assert "UNAVAILABLE" in status.message or "not reachable" in status.message


def test_health_answers_within_its_timeout(outage: dict[str, Any]) -> None:
    assert outage["health_s"] < HEALTH_TIMEOUT_S + 0.5


def test_a_query_while_the_server_is_down_fails_as_a_connection_error(outage: dict[str, Any]) -> None:
    handle = outage["query_while_down"]
    assert handle.outcome is QueryOutcome.FAILED and handle.error.code.startswith("FLOE-C30")


def test_the_next_query_after_the_server_is_back_reconnects(outage: dict[str, Any]) -> None:
    assert outage["after"] == [{"one": 1}]


def test_the_reconnect_is_counted_and_the_pool_is_whole(outage: dict[str, Any]) -> None:
    stats = outage["stats"]
    assert stats.reconnects >= 1 and stats.in_use == 0 and stats.size == 1


def test_health_is_healthy_again(outage: dict[str, Any]) -> None:
    assert outage["health_after"].status is HealthState.HEALTHY
