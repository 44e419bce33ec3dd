"""Classic sessions on the run's local[2] JVM: results, limits, cancels, sessions, settings, pool."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.testing import wait_for
from floe_tui.compute import (
    ComputeConfig,
    ComputeError,
    ConfigError,
    ConnectionFailedError,
    QueryOutcome,
)
from floe_tui.testing import EngineCpu

pytestmark = pytest.mark.usefixtures("spark_runtime")
Target = Callable[..., ComputeConfig]
Opener = Callable[[ComputeConfig], SparkComputePlugin]
Query = Callable[..., list[dict[str, Any]]]
LONG_RUNNING = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"
TYPES = """
SELECT 1 AS i, CAST(2 AS BIGINT) AS b, 1.5D AS d, CAST('3.25' AS DECIMAL(10, 2)) AS dec, 'x' AS s,
       true AS t, DATE'2024-02-29' AS dt, TIMESTAMP_NTZ'2024-02-29 12:30:00' AS ntz, X'CAFE' AS bin,
       array(1, 2) AS arr, map('k', 1) AS m, named_struct('a', 1, 'b', 'z') AS st, CAST(NULL AS INT) AS n
"""
EXPECTED = {
    "i": 1,
    "b": 2,
    "d": 1.5,
    "dec": Decimal("3.25"),
    "s": "x",
    "t": True,
    "dt": dt.date(2024, 2, 29),
    "ntz": dt.datetime(2024, 2, 29, 12, 30),
    "bin": b"\xca\xfe",
    "arr": [1, 2],
    "m": [("k", 1)],
    "st": {"a": 1, "b": "z"},
    "n": None,
}


@pytest.fixture
def spark(open_plugin: Opener, classic_target: Target) -> SparkComputePlugin:
    return open_plugin(classic_target("spark", pool={"size": 2, "acquire_timeout_s": 30}))


def test_streamed_results_keep_spark_types(spark: SparkComputePlugin, query: Query) -> None:
    assert query(spark, TYPES) == [EXPECTED]


def test_limited_results_keep_spark_types(spark: SparkComputePlugin, query: Query) -> None:
    assert query(spark, TYPES, limit=5) == [EXPECTED]


def test_columns_carry_spark_sql_type_names(spark: SparkComputePlugin) -> None:
    handle = spark.execute("SELECT 1 AS i, 'x' AS s, array(1) AS a", timeout=60)
    handle.fetch_all()
    assert [(c.name, c.type) for c in handle.columns] == [("i", "int"), ("s", "string"), ("a", "array<int>")]


def test_limit_runs_inside_spark(spark: SparkComputePlugin) -> None:
    """A trillion rows: only a limit Spark applies itself answers within the timeout."""
    handle = spark.execute("SELECT * FROM range(0, 1000000000000, 1, 1000)", timeout=60, limit=5)
    assert handle.fetch_all().num_rows == 5 and handle.truncated


def test_large_results_stream_a_partition_at_a_time(spark: SparkComputePlugin) -> None:
    handle = spark.execute("SELECT id FROM range(0, 10000000, 1, 100)", timeout=120)
    rows = sum(batch.num_rows for batch in handle.batches())
    assert rows == 10_000_000 and handle.outcome is QueryOutcome.COMPLETED


def test_shuffles_and_aggregates_stream_in_order(spark: SparkComputePlugin, query: Query) -> None:
    rows = query(spark, "SELECT id % 3 AS k, count(*) AS c FROM range(300) GROUP BY 1 ORDER BY 1")
    assert rows == [{"k": 0, "c": 100}, {"k": 1, "c": 100}, {"k": 2, "c": 100}]


def test_a_temporary_view_lives_as_long_as_the_target(spark: SparkComputePlugin, query: Query) -> None:
    query(spark, "CREATE OR REPLACE TEMPORARY VIEW answer AS SELECT 42 AS x")
    assert query(spark, "SELECT x FROM answer") == [{"x": 42}]


def test_targets_get_their_own_sessions(
    spark: SparkComputePlugin, open_plugin: Opener, classic_target: Target, query: Query
) -> None:
    query(spark, "CREATE OR REPLACE TEMPORARY VIEW mine AS SELECT 1 AS x")
    other = open_plugin(classic_target("other"))
    handle = other.execute("SELECT * FROM mine", timeout=60)
    assert handle.wait(60) is QueryOutcome.FAILED and "mine" in (handle.error.message if handle.error else "")


def test_run_time_settings_stay_with_their_target(
    open_plugin: Opener, classic_target: Target, query: Query
) -> None:
    wide = open_plugin(classic_target("wide", connection={"conf": {"spark.sql.shuffle.partitions": "16"}}))
    plain = open_plugin(classic_target("plain", connection={"conf": {}}))
    setting = "SET spark.sql.shuffle.partitions"
    assert [query(wide, setting)[0]["value"], query(plain, setting)[0]["value"]] == ["16", "200"]


def test_a_run_time_setting_spark_rejects_is_a_config_error(classic_target: Target) -> None:
    plugin = SparkComputePlugin(classic_target(connection={"conf": {"spark.sql.shuffle.partitions": "many"}}))
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        plugin.connect()
    assert time.monotonic() - started < plugin.config.pool.connect_timeout_s
    error = caught.value
    assert error.code == "FLOE-C100" and "spark.sql.shuffle.partitions" in error.message and error.hint
    assert "many" not in str(error)
    assert plugin.pool_stats().size == 0


def test_another_master_in_the_same_process_is_refused(classic_target: Target) -> None:
    plugin = SparkComputePlugin(classic_target(connection={"master": "local[1]"}))
    with pytest.raises(ConfigError) as caught:
        plugin.connect()
    assert "one SparkContext" in caught.value.message and "Spark Connect" in caught.value.hint


def test_another_start_up_setting_in_the_same_process_is_refused(classic_target: Target) -> None:
    plugin = SparkComputePlugin(classic_target(connection={"conf": {"spark.driver.maxResultSize": "3g"}}))
    with pytest.raises(ConfigError) as caught:
        plugin.connect()
    assert "spark.driver.maxResultSize" in caught.value.message and "3g" not in str(caught.value)


def test_an_unreachable_standalone_master_fails_fast(classic_target: Target, unused_port: int) -> None:
    plugin = SparkComputePlugin(classic_target(connection={"master": f"spark://127.0.0.1:{unused_port}"}))
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    assert time.monotonic() - started < 10
    assert caught.value.code == "FLOE-C300" and "Spark master" in caught.value.message and caught.value.hint


def test_an_unreachable_kubernetes_api_fails_fast(classic_target: Target, unused_port: int) -> None:
    plugin = SparkComputePlugin(
        classic_target(connection={"master": f"k8s://https://127.0.0.1:{unused_port}"})
    )
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    assert "Kubernetes API server" in caught.value.message


def test_yarn_without_its_configuration_is_a_config_error(
    classic_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.delenv("YARN_CONF_DIR", raising=False)
    with pytest.raises(ConfigError) as caught:
        SparkComputePlugin(classic_target(connection={"master": "yarn"})).connect()
    assert "HADOOP_CONF_DIR" in caught.value.message


def test_an_analysis_error_names_the_problem(spark: SparkComputePlugin) -> None:
    handle = spark.execute("SELECT * FROM no_such_table", timeout=60)
    with pytest.raises(ComputeError) as caught:
        handle.fetch_all()
    assert caught.value.code == "FLOE-C400" and "no_such_table" in caught.value.message
    assert "JVM stacktrace" not in caught.value.message and caught.value.hint


def test_cancel_stops_the_spark_job_within_half_a_second(spark: SparkComputePlugin) -> None:
    tracker = spark._engine.runtime.context._jsc.sc().statusTracker()  # the driver's own view
    handle = spark.execute(LONG_RUNNING, timeout=600)
    assert wait_for(lambda: len(tracker.getActiveJobIds()) > 0, 30)
    started = time.monotonic()
    handle.cancel()
    assert wait_for(lambda: len(tracker.getActiveJobIds()) == 0, 5, 0.002)
    assert time.monotonic() - started < 0.5
    assert handle.wait(10) is QueryOutcome.CANCELLED


def test_a_cancel_right_after_execute_leaves_no_job_behind(spark: SparkComputePlugin) -> None:
    handle = spark.execute(LONG_RUNNING, timeout=600)
    threading.Thread(target=handle.cancel).start()
    assert handle.wait(10) is QueryOutcome.CANCELLED
    assert EngineCpu().wait_until_below(0.3, deadline_s=10) < 0.3


def test_pool_slots_run_queries_at_the_same_time(spark: SparkComputePlugin) -> None:
    first = spark.execute(LONG_RUNNING, timeout=600)
    second = spark.execute(LONG_RUNNING, timeout=600)
    assert first.wait_started(30) and second.wait_started(30)
    stats = spark.pool_stats()
    assert (stats.in_use, stats.size, stats.max) == (2, 2, 2)
    for handle in (first, second):
        handle.cancel()
    assert [first.wait(10), second.wait(10)] == [QueryOutcome.CANCELLED] * 2


def test_memory_stats_report_the_driver_storage_memory(spark: SparkComputePlugin, query: Query) -> None:
    before = spark.memory_stats()
    assert before is not None and before.limit_bytes and "driver" in before.by_tag
    query(spark, "CACHE TABLE cached AS SELECT id, uuid() AS u FROM range(300000)")  # ~10 MB, incompressible

    def grew() -> bool:
        now = spark.memory_stats()
        return now is not None and now.used_bytes > before.used_bytes + 5_000_000

    try:
        assert wait_for(grew, 10)  # the driver's status store learns of new blocks through its event bus
    finally:
        query(spark, "UNCACHE TABLE cached")


def test_health_reports_the_storage_memory(spark: SparkComputePlugin) -> None:
    status = spark.health_check(timeout=30)
    assert status.status.value == "healthy" and status.details["memory_limit_bytes"] > 0


def test_the_driver_log_is_kept_out_of_the_console(spark: SparkComputePlugin) -> None:
    log = spark.driver_log
    assert log is not None and "Spark's default log4j profile" in log.read_text(errors="replace")
