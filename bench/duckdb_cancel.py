"""Cancel latency on DuckDB: ``cancel()`` on a running query until its outcome is ``cancelled``.

"Running" is checked, not assumed: ``wait_started()`` returns when the worker thread is about to
hand the statement to DuckDB, so the benchmark then waits until that thread has spent CPU time
inside the engine (DuckDB executes on the calling thread too). A second series cancels right
after ``wait_started()``, the moment a user pressing "cancel" at once would hit.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

from bench import Row, benchmark, check, measured, percentile
from bench._support import ENDLESS_SQL, QUERY_THREAD_PREFIX, duckdb_target

RUNS = 30
ENGINE_CPU_S = 0.01  # CPU the query's thread must have spent (one 10 ms clock tick) to count as running
SETTLE_S = 0.020  # fallback when the query's thread cannot be observed
CPU_WINDOW_S = 0.5


@benchmark("duckdb.cancel")
def cancel_latency() -> list[Row]:
    """cancel() -> outcome `cancelled`, p50/p99 over 30 runs; the engine is free and idle after."""
    with duckdb_target() as duckdb:
        running, running_ok, running_after = _runs(duckdb, engine_running=True)
        at_once, at_once_ok, at_once_after = _runs(duckdb, engine_running=False)
        busy, idle = _cpu_around_cancel(duckdb)

    label = f"DuckDB cancel latency ({RUNS} runs, query running in the engine)"
    quick = f"DuckDB cancel latency ({RUNS} runs, cancel right after `wait_started()`)"
    return [
        measured(f"{label}, p50", percentile(running, 0.50), "ms"),
        measured(f"{label}, p99", percentile(running, 0.99), "ms", below=20),
        measured(f"{quick}, p50", percentile(at_once, 0.50), "ms"),
        measured(f"{quick}, p99", percentile(at_once, 0.99), "ms", below=20),
        check("DuckDB cancelled queries with outcome `cancelled`", running_ok + at_once_ok, 2 * RUNS),
        measured(
            "DuckDB `SELECT 1` on the pool right after a cancel, max",
            max(running_after + at_once_after),
            "ms",
            below=100,
        ),
        Row(
            f"DuckDB process CPU while the query runs -> in the {CPU_WINDOW_S:g} s after cancel",
            f"{busy:.2f} -> {idle:.2f} cores",
            "< 0.1 cores after",
            idle < 0.1,
        ),
    ]


def _runs(duckdb: Any, *, engine_running: bool) -> tuple[list[float], int, list[float]]:
    """Latencies (ms), how many ended `cancelled`, and the `SELECT 1` times after each (ms)."""
    from floe_tui.compute import QueryOutcome

    latencies: list[float] = []
    answers: list[float] = []
    cancelled = 0
    for _ in range(RUNS):
        handle = duckdb.execute(ENDLESS_SQL, timeout=120)
        if not handle.wait_started(10):
            raise RuntimeError("the query did not start within 10 s")
        if engine_running:
            wait_engine_running(handle)
        started = time.perf_counter()
        handle.cancel()
        outcome = handle.wait(10)
        latencies.append((time.perf_counter() - started) * 1000)
        cancelled += outcome is QueryOutcome.CANCELLED
        started = time.perf_counter()
        duckdb.execute("SELECT 1", timeout=10).fetch_all()
        answers.append((time.perf_counter() - started) * 1000)
    return latencies, cancelled, answers


def wait_engine_running(handle: Any, timeout: float = 10.0) -> None:
    """Wait until the query's worker thread has spent `ENGINE_CPU_S` of CPU (it is in the engine)."""
    thread = next((t for t in threading.enumerate() if t.name == f"{QUERY_THREAD_PREFIX}{handle.id}"), None)
    if thread is None or thread.native_id is None:
        time.sleep(SETTLE_S)  # the worker is named differently: fall back to a fixed pause
        return
    process = psutil.Process()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not handle.done:
        times = [t.user_time + t.system_time for t in process.threads() if t.id == thread.native_id]
        if times and times[0] >= ENGINE_CPU_S:
            return
        time.sleep(0.001)
    raise RuntimeError("the query did not run in the engine within 10 s")


def _cpu_around_cancel(duckdb: Any) -> tuple[float, float]:
    """Process CPU (in cores) while an endless query runs, and in the window after cancelling it."""
    process = psutil.Process()
    handle = duckdb.execute(ENDLESS_SQL, timeout=120)
    handle.wait_started(10)
    wait_engine_running(handle)
    busy = _cores_used(process, CPU_WINDOW_S)
    handle.cancel()
    handle.wait(10)
    idle = _cores_used(process, CPU_WINDOW_S)
    return busy, idle


def _cores_used(process: psutil.Process, window_s: float) -> float:
    before, t0 = process.cpu_times(), time.perf_counter()
    time.sleep(window_s)
    after, t1 = process.cpu_times(), time.perf_counter()
    spent = (after.user - before.user) + (after.system - before.system)
    return spent / (t1 - t0)
