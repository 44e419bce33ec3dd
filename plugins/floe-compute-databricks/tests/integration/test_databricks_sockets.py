"""The real connector and SDK against loopback sockets: refusals, TLS, and a server that never answers.

No Databricks protocol is spoken here. A port with nothing listening, a listener that answers in
plain text, and one that accepts and stays silent are enough to check what the plugin does when
a workspace cannot be reached: clear errors, the plugin's own deadlines, no thread left behind,
and no token anywhere.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

from floe_compute_databricks import DatabricksComputePlugin
from floe_compute_databricks.config import DatabricksConnection
from floe_compute_databricks.connection import WarehouseStateReader, warehouse_status
from floe_tui.compute import ComputeConfig, ComputeError, HealthState, HealthStatus

Target = Callable[..., ComputeConfig]
#: The plugin's deadline may overrun the configured budget by at most this much.
SLACK_S = 0.5
CONNECT_BUDGET_S = 2.0


def connect_failure(config: ComputeConfig) -> tuple[ComputeError, float, DatabricksComputePlugin]:
    plugin = DatabricksComputePlugin(config)
    started = time.monotonic()
    with pytest.raises(ComputeError) as caught:
        plugin.connect()
    return caught.value, time.monotonic() - started, plugin


@pytest.mark.parametrize(
    ("listener", "says", "hint"),
    [
        pytest.param(
            "closed_port",
            ["refused the connection", "Connection refused"],
            "`host` and `port`",
            id="nothing-listening",
        ),
        pytest.param("plaintext_port", ["TLS handshake", "WRONG_VERSION_NUMBER"], "HTTPS", id="tls-refused"),
    ],
)
def test_an_unreachable_workspace_is_a_clear_connection_error_at_once(
    target: Target,
    token: str,
    connector_loaded: None,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    listener: str,
    says: list[str],
    hint: str,
) -> None:
    """Refused and TLS failures are not retried for the whole budget: the reason comes at once."""
    config = target(port=request.getfixturevalue(listener), pool={"size": 1, "connect_timeout_s": 10})

    with caplog.at_level(logging.DEBUG):
        error, elapsed, plugin = connect_failure(config)

    assert error.code == "FLOE-C300", str(error)
    assert all(part in error.message for part in [*says, "target 'dbx'"]), error.message
    assert hint in error.hint
    assert elapsed < 5, f"a refused connection must not be retried for the whole budget ({elapsed:.2f} s)"
    stats = plugin.pool_stats()
    assert (stats.size, stats.created, stats.closed) == (0, 0, 0) and not plugin.is_connected
    assert plugin.health_check(timeout=1).message == "not connected"
    assert token not in str(error) + caplog.text + repr(plugin) + repr(plugin.config)


def test_a_silent_server_is_given_up_on_at_the_plugins_deadline(
    target: Target,
    token: str,
    silent_port: int,
    non_daemon_threads: Callable[[], set[int]],
) -> None:
    """The connector's socket timeout is no wall clock; the plugin's connect deadline is.

    Not given `connector_loaded`: when this test runs first, the connector's import (inside the
    session's opening) counts against the same budget, as it does in a fresh console.
    """
    config = target(port=silent_port, pool={"size": 1, "connect_timeout_s": CONNECT_BUDGET_S})
    before = non_daemon_threads()

    error, elapsed, plugin = connect_failure(config)

    assert error.code == "FLOE-C301", str(error)
    assert "within 2 s" in error.message and error.hint
    assert elapsed < CONNECT_BUDGET_S + SLACK_S, f"connect gave up after {elapsed:.2f} s"
    assert non_daemon_threads() == before, "the abandoned connect left a non-daemon thread"
    stats = plugin.pool_stats()
    assert stats.in_use == 0 and stats.size == 0 and not plugin.is_connected


def reader(port: int) -> WarehouseStateReader:
    connection = DatabricksConnection.model_validate(
        {"host": "127.0.0.1", "port": port, "http_path": "/sql/1.0/warehouses/0123456789abcdef"}
    )
    return WarehouseStateReader(connection, "dapi-health-token-NOT-REAL", product_version="0")


def test_health_reads_the_warehouse_state_over_rest_and_reports_why_it_cannot(
    closed_port: int,
    plaintext_port: int,
    silent_port: int,
    connector_loaded: None,
    non_daemon_threads: Callable[[], set[int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The SDK's `warehouses.get`, bounded by the health timeout; the reason, never the token."""
    before = non_daemon_threads()
    timings: dict[str, float] = {}
    statuses: dict[str, HealthStatus] = {}

    def poll(name: str, port: int) -> None:
        started = time.monotonic()
        statuses[name] = warehouse_status(reader(port), 3.0)
        timings[name] = time.monotonic() - started

    with caplog.at_level(logging.DEBUG):
        polls = [
            threading.Thread(target=poll, args=case, daemon=True)
            for case in (("refused", closed_port), ("tls", plaintext_port), ("silent", silent_port))
        ]
        for thread in polls:
            thread.start()
        for thread in polls:
            thread.join(10)

    assert all(s.status is HealthState.UNHEALTHY for s in statuses.values()), statuses
    assert statuses["refused"].message == "the workspace refused the connection: Connection refused"
    assert statuses["tls"].message.startswith("the TLS handshake with the workspace failed: [SSL:")
    assert statuses["silent"].message == (
        "the workspace did not report the state of warehouse 0123456789abcdef within 3 s"
    )
    assert all(s.details["warehouse_id"] == "0123456789abcdef" for s in statuses.values())
    assert max(timings.values()) < 3.0 + SLACK_S, timings
    assert non_daemon_threads() == before
    assert "dapi-health-token-NOT-REAL" not in caplog.text + str(statuses)


def test_nothing_from_the_libraries_reaches_stderr(
    closed_port: int, plaintext_port: int, tmp_path: object
) -> None:
    """Without any logging set up, failing connects and a failing health poll print nothing at all."""
    script = textwrap.dedent(
        f"""
        import os
        from floe_compute_databricks import DatabricksComputePlugin
        from floe_compute_databricks.config import DatabricksConnection
        from floe_compute_databricks.connection import WarehouseStateReader, warehouse_status
        from floe_tui.compute import ComputeConfig, ComputeError

        os.environ["FLOE_TEST_DATABRICKS_TOKEN"] = "dapi-stderr-NOT-REAL"
        for port in ({closed_port}, {plaintext_port}):
            config = ComputeConfig.from_mapping({{
                "name": "dbx",
                "connection": {{"host": "127.0.0.1", "port": port, "http_path": "/sql/1.0/warehouses/ab12"}},
                "credentials": {{"token": {{"env": "FLOE_TEST_DATABRICKS_TOKEN"}}}},
                "pool": {{"connect_timeout_s": 5}},
            }})
            try:
                DatabricksComputePlugin(config).connect()
            except ComputeError as exc:
                print(exc.code)
        connection = DatabricksConnection.model_validate(config.connection)
        print(warehouse_status(WarehouseStateReader(connection, "t", product_version="0"), 3).status.value)
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHONWARNINGS")}

    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)

    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["FLOE-C300", "FLOE-C300", "unhealthy"]
    assert run.stderr == "", run.stderr
