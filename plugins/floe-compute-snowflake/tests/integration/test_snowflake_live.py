"""The whole compliance suite against a real Snowflake account, when one is given.

Set FLOE_SNOWFLAKE_ACCOUNT, FLOE_SNOWFLAKE_USER and FLOE_SNOWFLAKE_PASSWORD (and, as the account
needs them, FLOE_SNOWFLAKE_WAREHOUSE, FLOE_SNOWFLAKE_DATABASE, FLOE_SNOWFLAKE_SCHEMA,
FLOE_SNOWFLAKE_ROLE); without them every test here is skipped, saying so. These are the checks
fakesnow cannot make: real authentication, chunked result downloads, STATEMENT_TIMEOUT_IN_SECONDS,
and a cancel seen in the account's own query history (a warehouse's CPU is not observable here).
This module reaches the account's host, the only tests that leave loopback.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_tui.compute import ComputeConfig, ComputePlugin, QueryOutcome
from floe_tui.testing import ComputePluginCompliance

REQUIRED = ("FLOE_SNOWFLAKE_ACCOUNT", "FLOE_SNOWFLAKE_USER", "FLOE_SNOWFLAKE_PASSWORD")
OPTIONAL = {"warehouse": "FLOE_SNOWFLAKE_WAREHOUSE", "database": "FLOE_SNOWFLAKE_DATABASE"}
OPTIONAL |= {"schema": "FLOE_SNOWFLAKE_SCHEMA", "role": "FLOE_SNOWFLAKE_ROLE"}
MISSING = [name for name in REQUIRED if not os.environ.get(name)]

if MISSING:
    pytest.skip(
        f"live Snowflake tests need {', '.join(REQUIRED)} (a real account); unset: {', '.join(MISSING)}",
        allow_module_level=True,
    )


def live_config(query_tag: str | None = None) -> ComputeConfig:
    connection = {"account": os.environ.get(REQUIRED[0], ""), "user": os.environ.get(REQUIRED[1], "")}
    connection |= {key: os.environ[var] for key, var in OPTIONAL.items() if os.environ.get(var)}
    if query_tag:
        connection["query_tag"] = query_tag
    return ComputeConfig.from_mapping(
        {
            "name": "snowflake",
            "connection": connection,
            "credentials": {"password": {"env": "FLOE_SNOWFLAKE_PASSWORD"}},
            "pool": {"size": 2, "connect_timeout_s": 60},
        }
    )


def _history_status(plugin: ComputePlugin, tag: str, deadline_s: float = 60.0) -> tuple[str, int | None]:
    """Execution status and error code of the tagged statement in the session's query history."""
    sql = (
        "SELECT execution_status, error_code FROM TABLE(information_schema.query_history_by_user()) "
        f"WHERE query_tag = '{tag}' AND query_text ILIKE '%generator%' ORDER BY start_time DESC LIMIT 1"
    )
    deadline = time.monotonic() + deadline_s
    while True:
        rows = plugin.execute(sql, timeout=30).fetch_all().to_pylist()
        if rows and rows[0]["EXECUTION_STATUS"] != "RUNNING":
            code = rows[0]["ERROR_CODE"]
            return str(rows[0]["EXECUTION_STATUS"]), None if code is None else int(code)
        if time.monotonic() >= deadline:
            raise AssertionError(f"the tagged statement was still running after {deadline_s:g} s")
        time.sleep(1.0)  # query history lags the statement by up to seconds; polled with a deadline


class TestSnowflakeLiveCompliance(ComputePluginCompliance):
    plugin_class = SnowflakeComputePlugin
    long_running_sql = "SELECT count(*) FROM TABLE(generator(timelimit => 600))"
    large_result_sql = (
        "SELECT seq8() AS i, randstr(20, random()) AS s FROM TABLE(generator(rowcount => 3000000))"
    )
    secret_credential_names = ("password",)
    # A round trip to the account, not a local engine: SELECT 1 takes tens of milliseconds.
    responsive_within_s: ClassVar[float] = 1.0

    def make_config(self, directory: Path) -> ComputeConfig:
        return live_config()

    def _check_in_history(self, timeout: float | None) -> None:
        tag = f"floe-live-{secrets.token_hex(6)}"
        with SnowflakeComputePlugin(live_config(tag)) as plugin:
            handle = plugin.execute(self.long_running_sql, timeout=timeout or 600)
            assert handle.wait_started(60)
            if timeout is None:
                time.sleep(3.0)  # let the warehouse start the statement; the history shows the rest
                threading.Thread(target=handle.cancel).start()
                expected = QueryOutcome.CANCELLED
            else:
                expected = QueryOutcome.TIMED_OUT
            assert handle.wait((timeout or 0) + 30) is expected
            assert handle.stop_confirmed is True
            status, code = _history_status(plugin, tag)
        assert status.startswith("FAILED") and code == 604, (status, code)

    def test_cancel_stops_the_engine(self, connected: ComputePlugin) -> None:
        self._check_in_history(timeout=None)

    def test_timeout_stops_the_engine(
        self, connected: ComputePlugin, caplog: pytest.LogCaptureFixture
    ) -> None:
        self._check_in_history(timeout=5.0)


def test_live_statement_timeout_backstop_is_accepted() -> None:
    """Real Snowflake takes STATEMENT_TIMEOUT_IN_SECONDS (fakesnow refuses it: 009999)."""
    with SnowflakeComputePlugin(live_config()) as plugin:
        handle = plugin.execute("SHOW PARAMETERS LIKE 'STATEMENT_TIMEOUT_IN_SECONDS' IN SESSION", timeout=7)
        rows = handle.fetch_all().to_pylist()
    assert rows and str(rows[0]["value"]) == "17", rows
