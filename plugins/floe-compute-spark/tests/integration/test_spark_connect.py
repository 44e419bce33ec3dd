"""Spark Connect against the run's local server (token-protected, loopback): the cluster code path."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, ConnectionFailedError, QueryOutcome
from floe_tui.testing import EngineCpu

pytestmark = pytest.mark.usefixtures("connect_server")
Target = Callable[..., ComputeConfig]
Opener = Callable[[ComputeConfig], SparkComputePlugin]
Query = Callable[..., list[dict[str, Any]]]
LONG_RUNNING = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"


@pytest.fixture
def sc(open_plugin: Opener, remote_target: Target) -> SparkComputePlugin:
    return open_plugin(remote_target("sc", pool={"size": 2, "acquire_timeout_s": 30}))


def test_results_keep_spark_types(sc: SparkComputePlugin, query: Query) -> None:
    sql = """SELECT 1 AS i, CAST('3.25' AS DECIMAL(10, 2)) AS dec, 'x' AS s, DATE'2024-02-29' AS dt,
             TIMESTAMP_NTZ'2024-02-29 12:30:00' AS ntz, array(1, 2) AS arr, named_struct('a', 1) AS st"""
    assert query(sc, sql) == [
        {
            "i": 1,
            "dec": Decimal("3.25"),
            "s": "x",
            "dt": dt.date(2024, 2, 29),
            "ntz": dt.datetime(2024, 2, 29, 12, 30),
            "arr": [1, 2],
            "st": {"a": 1},
        }
    ]


def test_limit_runs_inside_spark(sc: SparkComputePlugin) -> None:
    handle = sc.execute("SELECT * FROM range(0, 1000000000000, 1, 1000)", timeout=60, limit=5)
    assert handle.fetch_all().num_rows == 5 and handle.truncated


def test_commands_run_and_their_effects_last(sc: SparkComputePlugin, query: Query) -> None:
    query(sc, "CREATE OR REPLACE TEMPORARY VIEW answer AS SELECT 42 AS x")
    assert query(sc, "SELECT x FROM answer") == [{"x": 42}]


def test_targets_get_their_own_server_sessions(
    sc: SparkComputePlugin, open_plugin: Opener, remote_target: Target, query: Query
) -> None:
    query(sc, "CREATE OR REPLACE TEMPORARY VIEW mine AS SELECT 1 AS x")
    other = open_plugin(remote_target("other"))
    assert other.execute("SELECT * FROM mine", timeout=60).wait(60) is QueryOutcome.FAILED


def test_a_wrong_token_is_refused_with_a_hint(remote_target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_TOKEN", "not-the-token-123")
    plugin = SparkComputePlugin(remote_target(credentials={"token": {"env": "WRONG_TOKEN"}}))
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    error = caught.value
    assert "UNAUTHENTICATED" in error.message and "credentials.token" in error.hint
    assert "not-the-token" not in str(error)


def test_a_missing_token_is_refused(remote_target: Target) -> None:
    with pytest.raises(ConnectionFailedError) as caught:
        SparkComputePlugin(remote_target(credentials={})).connect()
    assert "UNAUTHENTICATED" in caught.value.message


def test_an_unreachable_endpoint_fails_fast(unused_port: int) -> None:
    config = ComputeConfig.from_mapping(
        {"name": "sc", "connection": {"remote": f"sc://localhost:{unused_port}"}}
    )
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        SparkComputePlugin(config).connect()
    assert time.monotonic() - started < 5
    assert caught.value.code == "FLOE-C300" and "Spark Connect server" in caught.value.message


def test_a_setting_fixed_at_server_start_is_a_config_error(remote_target: Target) -> None:
    plugin = SparkComputePlugin(remote_target(connection={"conf": {"spark.executor.memory": "2g"}}))
    with pytest.raises(ConfigError) as caught:
        plugin.connect()
    assert "spark.executor.memory" in caught.value.message and caught.value.hint


def test_a_run_time_setting_spark_rejects_is_a_config_error(remote_target: Target) -> None:
    plugin = SparkComputePlugin(remote_target(connection={"conf": {"spark.sql.shuffle.partitions": "many"}}))
    with pytest.raises(ConfigError) as caught:
        plugin.connect()
    assert "spark.sql.shuffle.partitions" in caught.value.message and "many" not in str(caught.value)


def test_adaptive_execution_is_off_by_default(sc: SparkComputePlugin, query: Query) -> None:
    assert query(sc, "SET spark.sql.adaptive.enabled")[0]["value"] == "false"


def test_a_target_may_turn_adaptive_execution_back_on(
    open_plugin: Opener, remote_target: Target, query: Query
) -> None:
    plugin = open_plugin(remote_target(connection={"conf": {"spark.sql.adaptive.enabled": "true"}}))
    assert query(plugin, "SET spark.sql.adaptive.enabled")[0]["value"] == "true"


def test_a_cancel_right_after_execute_leaves_no_job_behind(sc: SparkComputePlugin) -> None:
    handle = sc.execute(LONG_RUNNING, timeout=600)
    threading.Thread(target=handle.cancel).start()
    assert handle.wait(10) is QueryOutcome.CANCELLED
    assert EngineCpu().wait_until_below(0.3, deadline_s=10) < 0.3


def test_memory_stats_come_from_the_server_ui(sc: SparkComputePlugin) -> None:
    memory = sc.memory_stats()
    assert memory is not None and memory.limit_bytes and "driver" in memory.by_tag


def test_memory_stats_are_none_when_the_ui_is_not_reachable(
    open_plugin: Opener, remote_target: Target, unused_port: int
) -> None:
    plugin = open_plugin(remote_target(connection={"ui_url": f"http://127.0.0.1:{unused_port}"}))
    assert plugin.memory_stats() is None
