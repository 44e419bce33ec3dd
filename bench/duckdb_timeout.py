"""Timeout accuracy on DuckDB: a 1 s timeout ends an endless query, in the engine, on time."""

from __future__ import annotations

import time

from bench import Row, benchmark, check, measured
from bench._support import ENDLESS_SQL, CaptureEvents, duckdb_target

RUNS = 5
TIMEOUT_S = 1.0
LIMIT_S = 1.1


@benchmark("duckdb.timeout")
def timeout_accuracy() -> list[Row]:
    """A 1 s timeout gives outcome `timed_out` in under 1.1 s (wall, from execute()), 5 runs."""
    from floe_tui.compute import QueryOutcome

    walls: list[float] = []
    answers: list[float] = []
    timed_out = 0
    with duckdb_target() as duckdb, CaptureEvents("floe_tui.compute.query") as log:
        for _ in range(RUNS):
            started = time.perf_counter()
            handle = duckdb.execute(ENDLESS_SQL, timeout=TIMEOUT_S)
            outcome = handle.wait(TIMEOUT_S + 10)
            walls.append(time.perf_counter() - started)
            timed_out += outcome is QueryOutcome.TIMED_OUT
            started = time.perf_counter()
            duckdb.execute("SELECT 1", timeout=10).fetch_all()
            answers.append((time.perf_counter() - started) * 1000)
    worst = max(walls)
    return [
        Row(
            f"DuckDB {TIMEOUT_S:g} s timeout: execute() to outcome `timed_out`, max of {RUNS}",
            f"{worst:.3f} s (min {min(walls):.3f} s)",
            f"< {LIMIT_S:g} s",
            worst < LIMIT_S and timed_out == RUNS,
        ),
        check("DuckDB timed-out queries with outcome `timed_out`", timed_out, RUNS),
        check("DuckDB `query.timed_out` log events", log.events.count("query.timed_out"), RUNS),
        measured("DuckDB `SELECT 1` on the pool right after a timeout, max", max(answers), "ms", below=100),
    ]
