"""Benchmarks of the Spark plugin: ``python plugins/floe-compute-spark/bench_spark.py``.

:func:`run_benchmarks` returns rows ``(name, figure, target)`` for the README's benchmark table:
session start (classic and Spark Connect), ``SELECT 1`` on a warm session, cancel latency (until the
Spark job has stopped, as Spark itself reports it), the first batch of a 100M-row scan and the
peak RSS of this Python process while that scan streams through it.

The scan is ``range(0, 100000000, 1, 100)``: Spark hands a classic driver's results over one
partition at a time, so the partition count bounds the driver's memory (``range(100000000)``
would make 2 partitions of 50M rows each, more than the default 1 GiB driver heap holds).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.server import LocalConnectServer
from floe_compute_spark.testing import wait_for
from floe_tui.compute import ComputeConfig, QueryHandle, QueryOutcome

Row = tuple[str, str, str]
LONG_RUNNING = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"
SCAN = "SELECT id FROM range(0, 100000000, 1, 100)"
SCAN_ROWS = 100_000_000
TOKEN = "bench-token"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _select_one(plugin: SparkComputePlugin, runs: int) -> tuple[float, float]:
    for _ in range(30):  # warm the JVM (class loading, JIT) as a console's session would be
        plugin.execute("SELECT 1", timeout=60).wait(60)
    times = []
    for _ in range(runs):
        handle = plugin.execute("SELECT 1", timeout=60)
        assert handle.wait(60) is QueryOutcome.COMPLETED
        times.append(handle.elapsed_s)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]


def _cancel_latency(plugin: SparkComputePlugin, running: Callable[[], bool], runs: int) -> float:
    """Median time from cancel() until Spark reports no running job for the query."""
    latencies = []
    for _ in range(runs):
        handle = plugin.execute(LONG_RUNNING, timeout=600)
        assert wait_for(running, 60), "the long query never started a job"
        time.sleep(0.5)  # let the job run at full speed before stopping it
        started = time.perf_counter()
        handle.cancel()
        assert wait_for(lambda: not running(), 30, 0.002), "the job did not stop"
        latencies.append(time.perf_counter() - started)
        assert handle.wait(30) is QueryOutcome.CANCELLED
    return statistics.median(latencies)


def _scan(plugin: SparkComputePlugin, budget_s: float) -> tuple[float, int, float, float]:
    """First batch latency, rows streamed within the budget, their time, RSS growth (MiB)."""
    before = _rss_mib()
    started = time.perf_counter()
    handle: QueryHandle = plugin.execute(SCAN, timeout=budget_s + 60)
    first = 0.0
    rows = 0
    for batch in handle.batches():
        if not rows:
            first = time.perf_counter() - started
        rows += batch.num_rows
        if time.perf_counter() - started > budget_s:
            break  # leaving the loop cancels the query
    took = time.perf_counter() - started
    handle.wait(30)
    return first, rows, took, _rss_mib() - before


def _scan_rows(prefix: str, plugin: SparkComputePlugin, budget_s: float) -> list[Row]:
    first, rows, took, grew = _scan(plugin, budget_s)
    streamed = "all 100M" if rows >= SCAN_ROWS else f"{rows / 1e6:.0f}M of 100M"
    rate = f"{rows / took / 1e6:.1f}M rows/s"
    return [
        (f"{prefix}: first batch of a 100M-row scan", _ms(first), "< 2 s"),
        (
            f"{prefix}: Python peak RSS growth while streaming ({streamed} rows, {rate})",
            f"+{grew:.0f} MiB (peak {_rss_mib():.0f} MiB)",
            "< +100 MiB",
        ),
    ]


def classic(runs: int, budget_s: float) -> list[Row]:
    config = ComputeConfig.from_mapping(
        {"name": "bench", "connection": {"master": "local[2]"}, "pool": {"size": 1}}
    )
    plugin = SparkComputePlugin(config)
    started = time.perf_counter()
    plugin.connect()
    start_s = time.perf_counter() - started
    try:
        p50, p99 = _select_one(plugin, runs)
        tracker = plugin._engine.runtime.context._jsc.sc().statusTracker()
        cancel = _cancel_latency(plugin, lambda: len(tracker.getActiveJobIds()) > 0, 5)
        rows: list[Row] = [
            ("spark classic: session start (JVM + SparkSession, local[2])", f"{start_s:.1f} s", "< 15 s"),
            (
                "spark classic: SELECT 1 on a warm session, p50 / p99",
                f"{_ms(p50)} / {_ms(p99)}",
                "< 100 ms p50",
            ),
            ("spark classic: cancel until the Spark job stopped (median of 5)", _ms(cancel), "< 200 ms"),
        ]
        return rows + _scan_rows("spark classic", plugin, budget_s)
    finally:
        plugin.disconnect()


def connect(runs: int, budget_s: float) -> list[Row]:
    started = time.perf_counter()
    server = LocalConnectServer(token=TOKEN).start()
    server_s = time.perf_counter() - started
    try:
        os.environ["FLOE_BENCH_SPARK_TOKEN"] = TOKEN
        config = ComputeConfig.from_mapping(
            {
                "name": "bench-connect",
                "connection": {"remote": server.url, "ui_url": server.ui_url},
                "credentials": {"token": {"env": "FLOE_BENCH_SPARK_TOKEN"}},
                "pool": {"size": 1},
            }
        )
        plugin = SparkComputePlugin(config)
        started = time.perf_counter()
        plugin.connect()
        session_s = time.perf_counter() - started
        try:
            p50, p99 = _select_one(plugin, runs)
            app = plugin._engine.app_id
            jobs_url = f"{server.ui_url}/api/v1/applications/{app}/jobs?status=running"

            def running() -> bool:
                with urllib.request.urlopen(jobs_url, timeout=5) as response:
                    return bool(json.load(response))

            cancel = _cancel_latency(plugin, running, 5)
            rows: list[Row] = [
                ("spark connect: local server start (spark-submit, loopback)", f"{server_s:.1f} s", "< 30 s"),
                ("spark connect: session open (token, settings)", _ms(session_s), "< 2 s"),
                (
                    "spark connect: SELECT 1 on a warm session, p50 / p99",
                    f"{_ms(p50)} / {_ms(p99)}",
                    "< 100 ms p50",
                ),
                ("spark connect: cancel until the Spark job stopped (median of 5)", _ms(cancel), "< 200 ms"),
            ]
            return rows + _scan_rows("spark connect", plugin, budget_s)
        finally:
            plugin.disconnect()
    finally:
        server.stop(remove_log=True)


def run_benchmarks(*, runs: int = 50, scan_budget_s: float = 60.0) -> list[Row]:
    """Every figure, classic first (this process's JVM), then Spark Connect (a local server)."""
    return classic(runs, scan_budget_s) + connect(runs, scan_budget_s)


def main(argv: list[str]) -> int:
    rows = run_benchmarks(runs=int(argv[1]) if len(argv) > 1 else 50)
    width = max(len(name) for name, _, _ in rows)
    for name, figure, target in rows:
        print(f"{name:{width}}  {figure:>28}  (target {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
