"""The Databricks plugin against the whole compliance suite.

Without a workspace, the checks that need no server run here (metadata, config rejection, the
literal secret, presets, packages, the profile's shape; `dbt parse` reads the profile in
test_databricks_dbt.py). Every check that needs a warehouse is the suite's own test, wrapped in
this class with a skip whose reason names FLOE_DATABRICKS_HOST, FLOE_DATABRICKS_HTTP_PATH and
FLOE_DATABRICKS_TOKEN: set them (a SQL warehouse and a personal access token) and the same class
runs the whole suite against the warehouse, `dbt debug` included. The wrappers are new functions
in this class, so the suite's own functions (shared with the other plugins) are never marked.

What the suite reads from the local machine is replaced where a warehouse is remote: "the engine
stopped" is the warehouse's own query history showing the statement CANCELED (the suite measures
local CPU, which a remote warehouse does not use), and health comes from the warehouse's state
over the REST API, so it stays healthy while the pool's only session is busy.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_databricks import DatabricksComputePlugin
from floe_tui.compute import ComputeConfig, ComputePlugin, HealthState, QueryOutcome
from floe_tui.testing import ComputePluginCompliance

LIVE_VARIABLES = ("FLOE_DATABRICKS_HOST", "FLOE_DATABRICKS_HTTP_PATH", "FLOE_DATABRICKS_TOKEN")
LIVE = all(os.environ.get(name) for name in LIVE_VARIABLES)
LIVE_REASON = (
    "needs a Databricks SQL warehouse: set FLOE_DATABRICKS_HOST, FLOE_DATABRICKS_HTTP_PATH and "
    "FLOE_DATABRICKS_TOKEN (optional: FLOE_DATABRICKS_CATALOG, FLOE_DATABRICKS_SCHEMA)"
)
needs_workspace = pytest.mark.skipif(not LIVE, reason=LIVE_REASON)
#: The suite's checks that need no server: they run here whether or not a workspace is set.
OFFLINE_CHECKS = frozenset(
    {
        "test_metadata",
        "test_unknown_connection_key_is_rejected",
        "test_validate_connection_accepts_a_good_config",
        "test_literal_secret_in_connection_is_refused",
        "test_resource_presets",
        "test_required_packages_are_pip_requirements",
        "test_catalog_attachment_quotes_its_values",
        "test_dbt_profile_is_accepted_by_dbt",
    }
)
OFFLINE_TOKEN_VAR = "FLOE_TEST_DATABRICKS_TOKEN"
#: Minutes of work on any warehouse size unless stopped; the marker finds it in the query history.
LONG_RUNNING = "SELECT count(*) FROM range(1000000000000000) t WHERE hash(t.id) % 7 = 3"
LARGE_RESULT = "SELECT id FROM range(100000000)"


def live_config() -> ComputeConfig:
    connection: dict[str, Any] = {
        "host": os.environ["FLOE_DATABRICKS_HOST"],
        "http_path": os.environ["FLOE_DATABRICKS_HTTP_PATH"],
    }
    for key in ("catalog", "schema"):
        value = os.environ.get(f"FLOE_DATABRICKS_{key.upper()}")
        if value:
            connection[key] = value
    return ComputeConfig.from_mapping(
        {
            "name": "databricks",
            "connection": connection,
            "credentials": {"token": {"env": "FLOE_DATABRICKS_TOKEN"}},
            # A stopped warehouse takes minutes to start: the first connect may wait for it.
            "pool": {"size": 2, "connect_timeout_s": 600, "acquire_timeout_s": 30},
        }
    )


def offline_config() -> ComputeConfig:
    return ComputeConfig.from_mapping(
        {
            "name": "databricks",
            "connection": {
                "host": "127.0.0.1",
                "port": 1,
                "http_path": "/sql/1.0/warehouses/0123456789abcdef",
            },
            "credentials": {"token": {"env": OFFLINE_TOKEN_VAR}},
        }
    )


class TestDatabricksCompliance(ComputePluginCompliance):
    plugin_class = DatabricksComputePlugin
    long_running_sql = LONG_RUNNING
    large_result_sql = LARGE_RESULT
    secret_credential_names = ("token",)
    #: A warm `SELECT 1` on a warehouse is a round trip over the internet, not a local call.
    responsive_within_s = 1.0
    #: Offline, `dbt debug` could only fail to connect; `dbt parse` checks the profile instead.
    run_dbt_debug = LIVE

    @pytest.fixture(autouse=True)
    def _offline_token(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Offline targets read their (placeholder) token from a variable that is always set."""
        monkeypatch.setenv(OFFLINE_TOKEN_VAR, "dapi-compliance-placeholder")

    def make_config(self, directory: Path) -> ComputeConfig:
        return live_config() if LIVE else offline_config()

    @pytest.fixture
    def secret_values(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        """The real token (a made-up one would be refused): it must not show up in any output."""
        token = os.environ.get("FLOE_DATABRICKS_TOKEN", "")
        monkeypatch.setenv("FLOE_COMPLIANCE_TOKEN", token)
        return {"token": token}

    # -- where a remote warehouse differs from a local engine -------------------------------
    def _check_really_stopped(self, plugin: ComputePlugin, timeout: float | None) -> None:
        """Cancel or time out a long statement; the warehouse's query history must say CANCELED."""
        usual = min(self._select_one_seconds(plugin) for _ in range(3))
        marker = f"floe-compliance-{uuid.uuid4().hex}"
        started_ms = int(time.time() * 1000) - 60_000
        handle = plugin.execute(f"/* {marker} */ {self.long_running_sql}", timeout=timeout or 600)
        assert handle.wait_started(60)
        assert handle.wait(3.0) is QueryOutcome.RUNNING, "the statement should still run after 3 s"
        if timeout is None:
            threading.Thread(target=handle.cancel).start()
            expected, budget = QueryOutcome.CANCELLED, 10.0
        else:
            expected, budget = QueryOutcome.TIMED_OUT, timeout + 10.0
        assert handle.wait(budget) is expected
        assert handle.stop_confirmed is True, "the warehouse did not confirm the stop"
        assert _history_status(marker, started_ms) == "CANCELED"
        fastest = min(self._select_one_seconds(plugin) for _ in range(3))
        assert fastest < usual + self.responsive_within_s, (
            f"SELECT 1 took {fastest * 1000:.0f} ms afterwards, {usual * 1000:.0f} ms before the query"
        )

    def test_health_answers_within_its_timeout_while_the_pool_is_busy(self, connected: ComputePlugin) -> None:
        """Health is the warehouse's state over REST: a busy pool does not make it unhealthy."""
        if not LIVE:
            pytest.skip(LIVE_REASON)
        handle = connected.execute(self.long_running_sql, timeout=120)  # holds the only session
        assert handle.wait_started(60)
        started = time.monotonic()
        status = connected.health_check(timeout=5)
        assert time.monotonic() - started < 5.5
        assert status.status is HealthState.HEALTHY and status.details["state"] == "RUNNING", status
        handle.cancel()
        assert handle.wait(30) is QueryOutcome.CANCELLED


def _history_status(marker: str, since_ms: int) -> str | None:
    """The status the warehouse's query history gives the statement holding `marker`."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.sql import QueryFilter, TimeRange

    host, token = os.environ["FLOE_DATABRICKS_HOST"], os.environ["FLOE_DATABRICKS_TOKEN"]
    client = WorkspaceClient(host=f"https://{host}", token=token, auth_type="pat")
    warehouse = os.environ["FLOE_DATABRICKS_HTTP_PATH"].rsplit("/", 1)[1]
    query_filter = QueryFilter(
        query_start_time_range=TimeRange(start_time_ms=since_ms), warehouse_ids=[warehouse]
    )
    deadline = time.monotonic() + 120  # the history lags the warehouse by some seconds
    status: str | None = None
    while time.monotonic() < deadline:
        page = client.query_history.list(filter_by=query_filter, max_results=100)
        found = [q for q in page.res or [] if marker in (q.query_text or "")]
        status = found[0].status.value if found and found[0].status else None
        if status not in (None, "QUEUED", "RUNNING", "STARTED", "COMPILING", "COMPILED"):
            return status
        time.sleep(2)  # polling a remote history with a deadline: nothing to wait on locally
    return status


def _gate(name: str) -> Callable[..., Any]:
    """The suite's `name`, as a new function of this class that skips without a workspace."""
    inherited: Callable[..., Any] = getattr(TestDatabricksCompliance, name)

    @functools.wraps(inherited)
    def check(self: TestDatabricksCompliance, *args: Any, **kwargs: Any) -> Any:
        return inherited(self, *args, **kwargs)

    gated: Callable[..., Any] = needs_workspace(check)
    return gated


for _name in sorted(n for n in dir(ComputePluginCompliance) if n.startswith("test_")):
    if _name not in OFFLINE_CHECKS:
        setattr(TestDatabricksCompliance, _name, _gate(_name))
