"""Queries, cancels, timeouts and health over the real connector to the local fakesnow server.

The server is DuckDB behind Snowflake's HTTP protocol (tests/servers/fakesnow_server.py, a test
double whose abort request interrupts DuckDB). "The engine stops" is read on the server process's
own CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psutil
import pytest

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.connection import BATCH_ROWS
from floe_tui.compute import HealthState, QueryOutcome
from floe_tui.testing import EngineCpu
from floe_tui.testing.servers import ServerProcess, wait_for

PluginFactory = Callable[..., SnowflakeComputePlugin]
#: Snowflake SQL that keeps one DuckDB core busy for over a minute unless it is stopped.
LONG_SQL = "SELECT sum(seq4()) AS s FROM TABLE(generator(rowcount => 100000000000))"
MILLION = "SELECT seq4() AS i, seq4() * 2 AS twice FROM TABLE(generator(rowcount => 1000000))"


def test_select_returns_snowflake_columns_and_types(open_plugin: PluginFactory) -> None:
    plugin = open_plugin()
    handle = plugin.execute("SELECT 42 AS answer, 'x' AS letter", timeout=30)
    table = handle.fetch_all()
    assert table.to_pylist() == [{"ANSWER": 42, "LETTER": "x"}]  # unquoted names are upper case
    assert [(c.name, c.type) for c in handle.columns] == [("ANSWER", "FIXED"), ("LETTER", "TEXT")]
    assert handle.outcome is QueryOutcome.COMPLETED and handle.rows == 1
    assert handle.stats is not None and handle.stats.query_id


def test_a_million_rows_stream_in_bounded_batches(open_plugin: PluginFactory) -> None:
    """fakesnow sends the whole result as one Arrow block; the plugin re-slices it."""
    plugin = open_plugin()
    handle = plugin.execute(MILLION, timeout=120)
    sizes = [batch.num_rows for batch in handle.batches()]
    assert sum(sizes) == 1_000_000 == handle.rows
    assert max(sizes) <= BATCH_ROWS and len(sizes) >= 1_000_000 // BATCH_ROWS
    limited = plugin.execute(MILLION, timeout=120, limit=100_000)
    assert limited.fetch_all().num_rows == 100_000 and limited.truncated


def test_ddl_and_dml_results_arrive_as_rows(open_plugin: PluginFactory) -> None:
    plugin = open_plugin()
    created = plugin.execute("CREATE OR REPLACE TABLE floe_rows (n INT)", timeout=30).fetch_all()
    assert created.num_rows == 1 and created.num_columns == 1
    inserted = plugin.execute("INSERT INTO floe_rows VALUES (1), (2), (3)", timeout=30).fetch_all()
    assert inserted.to_pylist()[0] == {"number of rows inserted": 3}
    assert plugin.execute("SELECT count(*) AS n FROM floe_rows", timeout=30).fetch_all().to_pylist() == [
        {"N": 3}
    ]


def test_syntax_error_fails_keeps_the_engine_message_and_the_session(open_plugin: PluginFactory) -> None:
    plugin = open_plugin(pool={"size": 1})
    handle = plugin.execute("SELEC 1 FROM", timeout=30)
    assert handle.wait(30) is QueryOutcome.FAILED
    assert handle.error is not None and handle.error.code == "FLOE-C400"
    assert "001003 (42000)" in handle.error.message and "unexpected token" in handle.error.message.lower()
    assert plugin.execute("SELECT 1", timeout=30).wait(30) is QueryOutcome.COMPLETED
    stats = plugin.pool_stats()
    assert stats.created == 1 and stats.reconnects == 0  # the session was kept


def _server_cpu(server: ServerProcess) -> EngineCpu:
    return EngineCpu(psutil.Process(server.pid))


def test_cancel_stops_the_query_in_the_server_and_spares_other_sessions(
    open_plugin: PluginFactory, fakesnow: ServerProcess
) -> None:
    plugin = open_plugin(pool={"size": 2})
    cpu = _server_cpu(fakesnow)
    handle = plugin.execute(LONG_SQL, timeout=120)
    assert cpu.wait_until_above(0.3, deadline_s=30) >= 0.3, "the long query should keep DuckDB busy"
    other = plugin.execute("SELECT 7 AS seven", timeout=30)  # a second session, while the first runs
    assert other.fetch_all().to_pylist() == [{"SEVEN": 7}]
    started = time.monotonic()
    threading.Thread(target=handle.cancel).start()
    assert handle.wait(5) is QueryOutcome.CANCELLED
    used = cpu.wait_until_below(0.1, deadline_s=2.0)
    assert used < 0.1, f"fakesnow still burns {used:.2f} cores after the cancel: the query was abandoned"
    assert time.monotonic() - started < 2.5
    assert handle.stop_confirmed is True and handle.error is not None and handle.error.code == "FLOE-C402"
    assert plugin.execute("SELECT 1", timeout=30).wait(30) is QueryOutcome.COMPLETED


def test_timeout_stops_the_query_and_notes_the_missing_backstop_once(
    open_plugin: PluginFactory, fakesnow: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-default timeout asks for STATEMENT_TIMEOUT_IN_SECONDS; fakesnow refuses it: noted once."""
    plugin = open_plugin(pool={"size": 1})
    cpu = _server_cpu(fakesnow)
    with caplog.at_level(logging.INFO, logger="floe_compute_snowflake"):
        handle = plugin.execute(LONG_SQL, timeout=2)
        assert handle.wait(10) is QueryOutcome.TIMED_OUT
        assert handle.error is not None and handle.error.code == "FLOE-C401" and handle.stop_confirmed
        assert cpu.wait_until_below(0.1, deadline_s=2.0) < 0.1
        again = plugin.execute("SELECT 1", timeout=3)
        assert again.wait(10) is QueryOutcome.COMPLETED
    notes = [r for r in caplog.records if getattr(r, "event", None) == "snowflake.backstop_unsupported"]
    assert len(notes) == 1 and "009999" in notes[0].getMessage()


def test_health_is_the_heartbeat_and_runs_no_sql(open_plugin: PluginFactory) -> None:
    plugin = open_plugin(pool={"size": 1})
    statements, heartbeats = plugin.sent.statements, plugin.sent.heartbeats
    for _ in range(3):
        status = plugin.health_check(timeout=5)
        assert status.status is HealthState.HEALTHY, status.message
        assert status.latency_ms is not None and status.latency_ms < 1000
    assert plugin.sent.statements == statements, "a health poll ran SQL"
    assert plugin.sent.heartbeats == heartbeats + 3, "every health poll is one heartbeat"


def test_queries_in_a_row_skip_the_heartbeat_a_health_poll_never_does(open_plugin: PluginFactory) -> None:
    """The pool checks a session before lending it; one that has just answered needs no round trip."""
    plugin = open_plugin(pool={"size": 1})
    heartbeats = plugin.sent.heartbeats
    for _ in range(5):
        assert plugin.execute("SELECT 1", timeout=30).wait(30) is QueryOutcome.COMPLETED
    assert plugin.sent.heartbeats == heartbeats
    assert plugin.health_check(timeout=5).status is HealthState.HEALTHY
    assert plugin.sent.heartbeats == heartbeats + 1


def test_health_after_the_server_lost_the_session_reconnects(
    open_plugin: PluginFactory, fakesnow: ServerProcess
) -> None:
    """A restarted server no longer knows the session: the heartbeat fails, the pool replaces it."""
    plugin = open_plugin(pool={"size": 1})
    assert plugin.execute("SELECT 1", timeout=30).wait(30) is QueryOutcome.COMPLETED
    fakesnow.restart()
    wait_for(lambda: plugin.health_check(timeout=5).status is HealthState.HEALTHY, 30, "healthy again")
    assert plugin.pool_stats().reconnects >= 1
    assert plugin.execute("SELECT 2 AS two", timeout=30).fetch_all().to_pylist() == [{"TWO": 2}]
