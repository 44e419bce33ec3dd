"""Snowflake plugin against the local fakesnow server: overhead next to the bare connector, cancel.

Every figure is measured against the same local server (fakesnow, DuckDB behind Snowflake's HTTP
protocol, with the tests' cancel double) in one run, on loopback: they tell what the plugin adds to
the connector, not what Snowflake costs. The bare connector gets the plugin's own connection
arguments, so both ends do the same work on the wire.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from bench import Row, Skip, benchmark, check, measured, percentile

SELECT_RUNS = 200
MILLION_RUNS = 6
CANCEL_RUNS = 5
#: Made once per run, so each query only scans it: the server's share of a run varies less.
MILLION_TABLE_SQL = (
    "CREATE OR REPLACE TABLE bench_million AS SELECT seq4() AS i, 'row ' || seq4() AS label, "
    "seq4() * 2 AS twice FROM TABLE(generator(rowcount => 1000000))"
)
MILLION_SQL = "SELECT i, label, twice FROM bench_million"
LONG_SQL = "SELECT sum(seq4()) AS s FROM TABLE(generator(rowcount => 100000000000))"
MB = 1_000_000


@contextmanager
def _fakesnow() -> Iterator[tuple[Any, Any]]:
    """The server and a connected plugin with one pooled session on it."""
    try:
        from floe_compute_snowflake import SnowflakeComputePlugin
        from floe_compute_snowflake.testing import fakesnow_server, local_target
        from floe_tui.testing.servers import ServerError
    except ImportError as exc:
        raise Skip(f"the Snowflake plugin is not installed ({exc.name})") from None
    try:
        server = fakesnow_server()
        server.start()
    except ServerError as exc:
        raise Skip(f"fakesnow did not start: {exc}") from None
    try:
        plugin = SnowflakeComputePlugin(local_target(server.port, pool={"size": 1}))
        with plugin:
            plugin.execute("SELECT 1").fetch_all()
            yield server, plugin
    finally:
        server.close()


@contextmanager
def _bare(plugin: Any) -> Iterator[Any]:
    """A connector session opened with exactly the plugin's connection arguments."""
    import snowflake.connector

    from floe_compute_snowflake.connection import connect_kwargs

    config = plugin.config
    secrets = {name: ref.resolve() for name, ref in config.credentials.items()}
    kwargs = connect_kwargs(  # the plugin's own arguments, so both sides send the same login
        plugin.connection_config,
        secrets,
        login_timeout_s=config.pool.connect_timeout_s,
        default_timeout_s=config.query_timeout_s,
    )
    raw = snowflake.connector.connect(**kwargs)
    try:
        yield raw
    finally:
        raw.close(retry=False)


def _plugin_query(plugin: Any, sql: str) -> tuple[int, float, float]:
    """Rows, seconds to the first record batch and to the end, through the plugin's QueryHandle."""
    started = time.perf_counter()
    first: float | None = None
    handle = plugin.execute(sql)
    rows = 0
    for batch in handle.batches():
        first = first or time.perf_counter() - started
        rows += batch.num_rows
    total = time.perf_counter() - started
    return (rows if handle.outcome.value == "completed" else -1), first or total, total


def _bare_query(raw: Any, sql: str) -> tuple[int, float, float]:
    """Rows, seconds to the first Arrow table and to the end, as a plain connector user gets them."""
    started = time.perf_counter()
    first: float | None = None
    cursor = raw.cursor()
    try:
        cursor.execute(sql, timeout=310)
        rows = 0
        for table in cursor.fetch_arrow_batches():
            first = first or time.perf_counter() - started
            rows += table.num_rows
        total = time.perf_counter() - started
        return rows, first or total, total
    finally:
        cursor.close()


@benchmark("snowflake.select_one")
def select_one() -> list[Row]:
    """`SELECT 1` through the plugin vs the bare connector on one session each, interleaved."""
    with _fakesnow() as (_, plugin), _bare(plugin) as raw:
        plugin_s: list[float] = []
        bare_s: list[float] = []
        for _ in range(SELECT_RUNS):
            started = time.perf_counter()
            plugin.execute("SELECT 1").fetch_all()
            plugin_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            _bare_query(raw, "SELECT 1")
            bare_s.append(time.perf_counter() - started)
    p, b = statistics.median(plugin_s), statistics.median(bare_s)
    label = f"Snowflake (fakesnow) `SELECT 1`, median of {SELECT_RUNS}"
    return [
        measured(f"{label}, plugin", p * 1000, "ms"),
        measured(f"{label}, bare connector `fetch_arrow_batches()`", b * 1000, "ms"),
        measured(f"{label}, plugin / bare", p / b, "x", below=1.2),
    ]


class _PeakRss:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.002)  # a sampling interval, not a wait for a state

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / MB


@benchmark("snowflake.million_rows")
def million_rows() -> list[Row]:
    """1,000,000 rows x 3 columns: first batch and last, plugin vs bare `fetch_arrow_batches()`."""
    with _fakesnow() as (_, plugin), _bare(plugin) as raw:
        plugin.execute(MILLION_TABLE_SQL, timeout=120).fetch_all()
        runs: list[dict[str, float]] = []
        rows_ok = 0
        for run in range(MILLION_RUNS):
            # Alternate which side goes first: the server and the machine drift between runs.
            measured_run: dict[str, float] = {}
            for side in ("plugin", "bare") if run % 2 == 0 else ("bare", "plugin"):
                gc.collect()
                with _PeakRss() as rss:
                    if side == "plugin":
                        count, first, total = _plugin_query(plugin, MILLION_SQL)
                    else:
                        count, first, total = _bare_query(raw, MILLION_SQL)
                rows_ok += count == 1_000_000
                measured_run |= {f"{side}_first": first, f"{side}_total": total, f"{side}_rss": rss.growth_mb}
            runs.append(measured_run)

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    label = f"Snowflake (fakesnow) 1,000,000 rows x 3 columns, median of {MILLION_RUNS}"
    return [
        measured(f"{label}: first batch, plugin", median("plugin_first") * 1000, "ms"),
        measured(f"{label}: first batch, bare connector", median("bare_first") * 1000, "ms"),
        measured(f"{label}: all rows, plugin", median("plugin_total") * 1000, "ms"),
        measured(f"{label}: all rows, bare connector", median("bare_total") * 1000, "ms"),
        measured(
            f"{label}: all rows, plugin / bare", median("plugin_total") / median("bare_total"), "x", below=1.1
        ),
        measured(f"{label}: client peak RSS growth, plugin (max)", max(r["plugin_rss"] for r in runs), "MB"),
        measured(f"{label}: client peak RSS growth, bare (max)", max(r["bare_rss"] for r in runs), "MB"),
        check("Snowflake (fakesnow) 1M-row runs that returned every row", rows_ok, 2 * MILLION_RUNS),
    ]


@benchmark("snowflake.cancel")
def cancel() -> list[Row]:
    """cancel() of a running statement until the server's CPU is under 10% of a core; the outcome."""
    from floe_tui.testing import EngineCpu

    with _fakesnow() as (server, plugin):
        cpu = EngineCpu(psutil.Process(server.pid))
        latencies: list[float] = []
        cancelled = 0
        for _ in range(CANCEL_RUNS):
            handle = plugin.execute(LONG_SQL, timeout=300)
            if cpu.wait_until_above(0.5, deadline_s=30, window_s=0.2) < 0.5:
                raise RuntimeError("the long statement did not keep fakesnow busy")
            started = time.perf_counter()
            handle.cancel()
            while cpu.cores_used(window_s=0.05) >= 0.1:  # each sample ends 50 ms after it began
                if time.perf_counter() - started > 10:
                    break
            latencies.append(time.perf_counter() - started)
            cancelled += handle.wait(10).value == "cancelled"
    label = f"Snowflake (fakesnow) cancel() until the server's CPU < 10% of a core, {CANCEL_RUNS} runs"
    return [
        measured(f"{label}, p50", percentile(latencies, 0.5) * 1000, "ms"),
        measured(f"{label}, max", max(latencies) * 1000, "ms", below=1000),
        check("Snowflake (fakesnow) cancelled statements with outcome `cancelled`", cancelled, CANCEL_RUNS),
    ]
