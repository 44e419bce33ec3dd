"""Cancel and timeout go through `jobs.cancel` on the plugin's job id, and are judged on the
emulator process's CPU.

With the cancel wrapper (a test double, tests/servers/crucible_cancel.py) crucible stops the
DuckDB statement of a cancelled job, as BigQuery stops a cancelled job. Stock crucible ignores
`jobs.cancel` and answers `jobs.insert` only when the query has ended: there the plugin must say
that the engine did not confirm the stop, and the core's deadline must hold anyway.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import (
    LONG_RUNNING_SQL,
    SERVER_PYTHON,
    WRAPPER,
    raw_client,
    wait_until_computing,
)
from floe_tui.compute import ComputeConfig, QueryOutcome
from floe_tui.testing import EngineCpu, ServerProcess

Open = Callable[[ComputeConfig], BigQueryComputePlugin]


def cancels_seen(server: ServerProcess) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.base_url}/_floe/cancels", timeout=5) as response:
        seen: list[dict[str, Any]] = json.load(response)
    return seen


def server_cpu(server: ServerProcess) -> EngineCpu:
    return EngineCpu(psutil.Process(server.pid))


def test_cancel_and_timeout_stop_the_plugins_job_in_the_engine(
    crucible: ServerProcess, bq_target: Callable[..., ComputeConfig], open_plugin: Open
) -> None:
    plugin = open_plugin(bq_target())
    cpu = server_cpu(crucible)
    for timeout, expected in ((None, QueryOutcome.CANCELLED), (3.0, QueryOutcome.TIMED_OUT)):
        before = len(cancels_seen(crucible))
        handle = plugin.execute(LONG_RUNNING_SQL, timeout=timeout or 120)
        if timeout is None:
            assert wait_until_computing(crucible), "the query should keep the emulator busy"
            asked = time.monotonic()
            threading.Thread(target=handle.cancel).start()
        else:
            asked = time.monotonic() + max(0.0, timeout - handle.elapsed_s)
        assert handle.wait(timeout=(timeout or 0) + 10) is expected
        assert time.monotonic() - asked < 1.0, "the stop is confirmed within a second"
        assert handle.stop_confirmed is True
        assert cpu.wait_until_below(0.1, deadline_s=1.0) < 0.1, "the emulator stopped computing"
        new = cancels_seen(crucible)[before:]
        assert new and all(c["job_id"].startswith("floe_") for c in new)
        assert len({c["job_id"] for c in new}) == 1, "every jobs.cancel names the one running job"
        assert sum(c["interrupted"] for c in new) >= 1, "a running statement was interrupted"
        job = raw_client(crucible).get_job(new[0]["job_id"])
        assert job.state == "DONE" and job.error_result["reason"] == "stopped"
    assert plugin.execute("SELECT 1 AS one").fetch_all().to_pylist() == [{"one": 1}]
    assert plugin.pool_stats().reconnects == 0, "a confirmed stop keeps the connection"


def test_a_job_cancelled_from_outside_ends_cancelled(
    crucible: ServerProcess,
    bq_target: Callable[..., ComputeConfig],
    open_plugin: Open,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`bq cancel` or the BigQuery console stopping the job: `cancelled` with BigQuery's message."""
    plugin = open_plugin(bq_target())
    with caplog.at_level(logging.DEBUG, logger="floe_compute_bigquery"):
        handle = plugin.execute(LONG_RUNNING_SQL, timeout=120)
        assert wait_until_computing(crucible)
    (job_id,) = re.findall(r"submitting query job (floe_[0-9a-f]+)", caplog.text)
    raw_client(crucible).cancel_job(job_id)
    assert handle.wait(10) is QueryOutcome.CANCELLED
    assert handle.error is not None and handle.error.code == "FLOE-C402"
    assert "User requested cancellation" in handle.error.message
    assert handle.stop_confirmed is None, "not stopped by this handle"


def test_a_stop_the_engine_ignores_is_reported_unconfirmed(
    new_crucible: Callable[..., ServerProcess],
    bq_target: Callable[..., ComputeConfig],
    open_plugin: Open,
) -> None:
    stock = new_crucible(stock=True)
    plugin = open_plugin(bq_target(server=stock))
    try:
        handle = plugin.execute(LONG_RUNNING_SQL, timeout=120)
        assert wait_until_computing(stock)
        asked = time.monotonic()
        handle.cancel()
        assert handle.wait(5) is QueryOutcome.CANCELLED
        assert 0.9 < time.monotonic() - asked < 2.0, "settled by the core 1 s after the cancel"
        assert handle.stop_confirmed is False
        deadline = plugin.execute(LONG_RUNNING_SQL, timeout=1.0)
        assert deadline.wait(5) is QueryOutcome.TIMED_OUT
        assert deadline.elapsed_s < 2.5 and deadline.stop_confirmed is False, "the core's deadline holds"
        # Stock crucible answers other requests while its query runs: the pool replaced the
        # retired connections and the target still answers.
        assert plugin.execute("SELECT 1 AS one", timeout=30).fetch_all().to_pylist() == [{"one": 1}]
        assert plugin.pool_stats().reconnects >= 1
    finally:
        stock.kill()  # its DuckDB computes on: SIGKILL, not a graceful stop that would wait for it


def test_a_cancel_that_hangs_is_bounded(
    new_crucible: Callable[..., ServerProcess],
    bq_target: Callable[..., ComputeConfig],
    open_plugin: Open,
) -> None:
    """A server that stops answering mid-query: cancel() returns at once, the handle settles."""
    server = new_crucible()
    plugin = open_plugin(bq_target(server=server))
    handle = plugin.execute(LONG_RUNNING_SQL, timeout=120)
    assert wait_until_computing(server)
    server.pause()
    try:
        asked = time.monotonic()
        handle.cancel()
        assert time.monotonic() - asked < 0.1, "cancel() never waits on the engine"
        assert handle.wait(5) is QueryOutcome.CANCELLED and handle.stop_confirmed is False
        assert time.monotonic() - asked < 2.0
    finally:
        server.kill()


def test_the_wrapper_refuses_a_crucible_it_does_not_know() -> None:
    """The test double checks what it patches: a missing internal fails loudly, never silently."""
    python, wrapper = SERVER_PYTHON, WRAPPER
    script = (
        "import runpy, sys\n"
        "from crucible.server.bigquery import jobs\n"
        "del jobs.Runner.run_query\n"
        "sys.argv = ['crucible_cancel', '--port', '1']\n"
        f"runpy.run_path({str(wrapper)!r}, run_name='__main__')\n"
    )
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert "Runner.run_query does not exist" in run.stderr and "0.1.0a2" in run.stderr
