"""Bad input and broken servers: each a ComputeError with code, message and hint; never a hang.

Tests that kill or hang a server start a fakesnow of their own (the run's shared one stays up).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.testing import PASSWORD_ENV, SERVER_PYTHON, WRAPPER, fakesnow_server, local_target
from floe_tui.compute import ConnectionFailedError, QueryOutcome, SecretResolutionError
from floe_tui.testing.servers import ServerProcess, free_port, wait_for

FLOE_TUI = [sys.executable, "-m", "floe_tui.cli"]
LONG_SQL = "SELECT sum(seq4()) AS s FROM TABLE(generator(rowcount => 100000000000))"


def _wait_busy(server: ServerProcess, cpu_seconds: float = 0.2) -> None:
    """Until the server has spent `cpu_seconds` more CPU (a count, so a loaded machine only slows it)."""
    process = psutil.Process(server.pid)

    def spent() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    start = spent()
    wait_for(lambda: spent() - start >= cpu_seconds, 30, "the statement running in the server")


@pytest.fixture(scope="module")
def own_server() -> Iterator[ServerProcess]:
    """A server these tests may kill or hang; each leaves it running for the next."""
    with fakesnow_server() as server:
        yield server


def test_nothing_listening_is_a_connection_error_within_the_connect_timeout() -> None:
    port = free_port()
    plugin = SnowflakeComputePlugin(local_target(port, pool={"connect_timeout_s": 3}))
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 1.0, f"connect() took {elapsed:.1f} s with connect_timeout_s 3"
    error = caught.value
    assert error.code in ("FLOE-C300", "FLOE-C301") and error.hint
    assert f"127.0.0.1:{port}" in error.message
    assert plugin.pool_stats().size == 0


def test_nothing_listening_on_the_command_line_is_one_error_line(tmp_path: Path) -> None:
    manifest = tmp_path / "enterprise.yaml"
    manifest.write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: corp, scope: enterprise}\n"
        "environments: [dev]\ncompute:\n  approved:\n    - name: snowflake\n"
        f"      connection: {{account: fakesnow, user: floe, host: 127.0.0.1, port: {free_port()}, "
        "protocol: http}\n"
        f"      credentials: {{password: {{env: {PASSWORD_ENV}}}}}\n"
        "      pool: {connect_timeout_s: 3}\n  default: snowflake\n"
    )
    started = time.monotonic()
    run = subprocess.run(
        [*FLOE_TUI, "query", "-m", str(manifest), "--env", "dev", "--compute", "snowflake", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, PASSWORD_ENV: "x"},
    )
    assert time.monotonic() - started < 15
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in run.stderr, run.stderr
    assert "127.0.0.1" in lines[0]


def test_unset_credential_variable_is_named_not_valued(
    monkeypatch: pytest.MonkeyPatch, fakesnow: ServerProcess
) -> None:
    monkeypatch.delenv("FLOE_TEST_UNSET_PASSWORD", raising=False)
    config = local_target(fakesnow.port, credentials={"password": {"env": "FLOE_TEST_UNSET_PASSWORD"}})
    plugin = SnowflakeComputePlugin(config)
    with pytest.raises(SecretResolutionError) as caught:
        plugin.connect()
    assert caught.value.code == "FLOE-C103" and "FLOE_TEST_UNSET_PASSWORD" in caught.value.message
    assert caught.value.hint
    result = plugin.validate_connection(config)
    assert not result.success and "FLOE_TEST_UNSET_PASSWORD" in result.message


def test_server_killed_mid_query_fails_it_retires_the_session_and_recovers(own_server: ServerProcess) -> None:
    plugin = SnowflakeComputePlugin(local_target(own_server.port, pool={"size": 1}))
    with plugin:
        handle = plugin.execute(LONG_SQL, timeout=60)
        # The statement runs in DuckDB before the kill (a kill before that is a refused submission,
        # another case): the server has spent CPU on it.
        _wait_busy(own_server)
        own_server.kill()
        assert handle.wait(15) is QueryOutcome.FAILED
        assert handle.error is not None and handle.error.code == "FLOE-C300" and handle.error.hint
        stats = plugin.pool_stats()
        assert stats.closed == 1 and stats.size == 0, "the broken session must be retired"
        own_server.restart()
        after = plugin.execute("SELECT 3 AS three", timeout=30)
        assert after.fetch_all().to_pylist() == [{"THREE": 3}]
        assert plugin.pool_stats().reconnects == 1


def test_hung_server_cancel_settles_unconfirmed_and_the_next_query_works(own_server: ServerProcess) -> None:
    plugin = SnowflakeComputePlugin(local_target(own_server.port, pool={"size": 1}))
    with plugin:
        handle = plugin.execute(LONG_SQL, timeout=60)
        _wait_busy(own_server)
        own_server.pause()
        try:
            started = time.monotonic()
            handle.cancel()
            assert handle.wait(5) is QueryOutcome.CANCELLED
            assert time.monotonic() - started < 2.0, "the core settles 1 s after an unconfirmed stop"
            assert handle.stop_confirmed is False
        finally:
            own_server.resume()
        after = plugin.execute("SELECT 4 AS four", timeout=30)
        assert after.fetch_all().to_pylist() == [{"FOUR": 4}]


@pytest.mark.parametrize(
    ("removal", "named"),
    [
        pytest.param(
            "import fakesnow.server as m; del m.to_token", "fakesnow.server.to_token", id="to_token"
        ),
        pytest.param(
            "import duckdb as m; del m.InterruptException", "duckdb.InterruptException", id="interrupt"
        ),
    ],
)
def test_the_cancel_double_refuses_to_start_without_the_internals_it_patches(
    removal: str, named: str
) -> None:
    """A fakesnow upgrade that moves what the test double patches must fail loudly, not serve."""
    script = (
        f"import runpy, sys; {removal}; sys.argv = ['fakesnow_server.py', '--port', '9']; "
        f"runpy.run_path({str(WRAPPER)!r}, run_name='__main__')"
    )
    run = subprocess.run([str(SERVER_PYTHON), "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    assert named in run.stderr and "fakesnow==0.12.1" in run.stderr
