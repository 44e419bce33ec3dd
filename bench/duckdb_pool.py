"""The connection pool under contention: many client threads, few connections."""

from __future__ import annotations

import threading
import time

from bench import Row, benchmark, check, measured, percentile
from bench._support import duckdb_target

THREADS = 16
QUERIES = 200  # per thread
SIZE = 4


@benchmark("duckdb.pool")
def pool_contention() -> list[Row]:
    """16 threads x 200 `SELECT 1` through a pool of 4: throughput, acquire wait, accounting after."""
    from floe_tui.compute import ComputeError, QueryOutcome

    waits: list[float] = []  # execute() until the statement starts: acquire + check + thread start
    failures: list[str] = []
    completed = 0
    lock = threading.Lock()
    gate = threading.Barrier(THREADS + 1)

    def client() -> None:
        nonlocal completed
        gate.wait()
        mine: list[float] = []
        done = 0
        for _ in range(QUERIES):
            started = time.perf_counter()
            handle = duckdb.execute("SELECT 1", timeout=60)
            handle.wait_started(60)
            mine.append((time.perf_counter() - started) * 1000)
            try:
                table = handle.fetch_all()
            except ComputeError as exc:
                with lock:
                    failures.append(exc.code)
                continue
            if handle.outcome is QueryOutcome.COMPLETED and table.num_rows == 1:
                done += 1
        with lock:
            waits.extend(mine)
            completed += done

    with duckdb_target(pool={"size": SIZE}) as duckdb:
        clients = [threading.Thread(target=client, name=f"bench-client-{i}") for i in range(THREADS)]
        for thread in clients:
            thread.start()
        gate.wait()
        started = time.perf_counter()
        for thread in clients:
            thread.join()
        elapsed = time.perf_counter() - started
        during = duckdb.pool_stats()  # after the run, before disconnect
    after = duckdb.pool_stats()

    total = THREADS * QUERIES
    label = f"DuckDB pool of {SIZE}, {THREADS} threads x {QUERIES} `SELECT 1`"
    rows = [
        measured(f"{label}: throughput", total / elapsed, "queries/s", digits=0),
        measured(f"{label}: acquire wait p50 (`pool_stats()`)", during.acquire_wait_p50_ms, "ms"),
        measured(f"{label}: acquire wait p99 (`pool_stats()`, last 2,048)", during.acquire_wait_p99_ms, "ms"),
        measured(f"{label}: execute() to started p99 (all {total:,})", percentile(waits, 0.99), "ms"),
        check(f"{label}: queries completed", completed, total),
        check(f"{label}: `in_use` after the run", during.in_use, 0),
        check(f"{label}: `created - closed` after the run", during.created - during.closed, SIZE),
        check(f"{label}: acquire timeouts", during.acquire_timeouts, 0),
        check(f"{label}: `closed` after disconnect (= created)", after.closed, after.created),
    ]
    if failures:
        rows.append(check(f"{label}: failed queries ({sorted(set(failures))})", len(failures), 0))
    return rows
