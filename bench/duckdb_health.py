"""Health check latency on DuckDB with a warm pool."""

from __future__ import annotations

import time
from collections import Counter

from bench import Row, benchmark, check, measured, percentile
from bench._support import duckdb_target

CALLS = 1000
WARM_UP = 50


@benchmark("duckdb.health")
def health_check_latency() -> list[Row]:
    """1,000 health_check() calls on a warm pool, wall time per call, p50/p99."""
    walls: list[float] = []
    states: Counter[str] = Counter()
    with duckdb_target() as duckdb:
        for _ in range(WARM_UP):
            duckdb.health_check()
        for _ in range(CALLS):
            started = time.perf_counter()
            status = duckdb.health_check()
            walls.append((time.perf_counter() - started) * 1000)
            states[status.status.value] += 1
    label = f"DuckDB health_check() on a warm pool ({CALLS:,} calls)"
    return [
        measured(f"{label}, p50", percentile(walls, 0.50), "ms"),
        measured(f"{label}, p99", percentile(walls, 0.99), "ms", below=5),
        measured(f"{label}, max", max(walls), "ms"),
        check(f"{label}: status `healthy`", states["healthy"], CALLS),
    ]
