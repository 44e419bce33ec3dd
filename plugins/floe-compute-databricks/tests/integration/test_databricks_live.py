"""Checks that only a real SQL warehouse can answer, beyond the compliance suite.

Gated on FLOE_DATABRICKS_HOST, FLOE_DATABRICKS_HTTP_PATH and FLOE_DATABRICKS_TOKEN; each skips
with that reason when they are unset. Never run on this project's machines (no workspace is
reachable from them): see the plugin README for what was checked where.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from floe_compute_databricks import DatabricksComputePlugin
from floe_tui.compute import ComputeConfig, HealthState, QueryOutcome

LIVE_VARIABLES = ("FLOE_DATABRICKS_HOST", "FLOE_DATABRICKS_HTTP_PATH", "FLOE_DATABRICKS_TOKEN")
pytestmark = pytest.mark.skipif(
    not all(os.environ.get(name) for name in LIVE_VARIABLES),
    reason="needs a Databricks SQL warehouse: set FLOE_DATABRICKS_HOST, FLOE_DATABRICKS_HTTP_PATH and "
    "FLOE_DATABRICKS_TOKEN to run it",
)


@pytest.fixture(scope="module")
def warehouse() -> Iterator[DatabricksComputePlugin]:
    config = ComputeConfig.from_mapping(
        {
            "name": "databricks",
            "connection": {
                "host": os.environ.get("FLOE_DATABRICKS_HOST", ""),
                "http_path": os.environ.get("FLOE_DATABRICKS_HTTP_PATH", ""),
            },
            "credentials": {"token": {"env": "FLOE_DATABRICKS_TOKEN"}},
            "pool": {"size": 1, "connect_timeout_s": 600},
            "query_timeout_s": 300,
        }
    )
    plugin = DatabricksComputePlugin(config)
    plugin.connect()
    yield plugin
    plugin.disconnect()


def setting(plugin: DatabricksComputePlugin, name: str, timeout: float | None = None) -> str:
    table = plugin.execute(f"SET {name}", timeout=timeout).fetch_all()
    values = {row["key"].lower(): row["value"] for row in table.to_pylist()}
    return str(values[name.lower()])


def test_each_statement_runs_under_its_own_statement_timeout(warehouse: DatabricksComputePlugin) -> None:
    assert setting(warehouse, "STATEMENT_TIMEOUT") == "310"  # the target's 300 s + 10
    assert setting(warehouse, "STATEMENT_TIMEOUT", timeout=5) == "15"
    assert setting(warehouse, "STATEMENT_TIMEOUT", timeout=62.5) == "73"


def test_health_is_the_warehouse_state_read_over_rest(warehouse: DatabricksComputePlugin) -> None:
    status = warehouse.health_check(timeout=10)

    assert status.status is HealthState.HEALTHY, status
    assert status.details["state"] == "RUNNING" and status.details["warehouse_id"]
    assert status.latency_ms is not None and status.latency_ms < 10_000


def test_a_finished_query_reports_its_statement_id(warehouse: DatabricksComputePlugin) -> None:
    handle = warehouse.execute("SELECT 1 AS one", timeout=60)

    assert handle.fetch_all().to_pylist() == [{"one": 1}]
    assert handle.outcome is QueryOutcome.COMPLETED
    assert handle.stats is not None and re.fullmatch(r"[0-9a-f-]{32,36}", handle.stats.query_id or "")


def test_the_row_limit_is_pushed_to_the_warehouse(warehouse: DatabricksComputePlugin) -> None:
    handle = warehouse.execute("SELECT id FROM range(1000000000000)", timeout=120, limit=5)

    assert handle.fetch_all().num_rows == 5 and handle.truncated
    assert handle.elapsed_s < 60, "a limited scan of 1e12 rows must not read them all"
