"""Run in a fresh interpreter by ``bench.duckdb_streaming``; prints one JSON document.

A fresh process makes "the first query" really the first one (DuckDB imports pyarrow lazily on
the first Arrow result) and keeps the RSS figures clear of what other benchmarks allocated.

Usage: ``python -m bench._stream_child ROWS WARM_RUNS [--preimport]``
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
from typing import Any

import psutil

SAMPLE_S = 0.001


def main(argv: list[str]) -> int:
    rows, warm_runs = int(argv[0]), int(argv[1])
    result: dict[str, Any] = {"pyarrow_import_ms": None}
    if "--preimport" in argv[2:]:
        started = time.perf_counter()
        import pyarrow  # noqa: F401

        result["pyarrow_import_ms"] = (time.perf_counter() - started) * 1000

    from bench._support import duckdb_target

    with duckdb_target(warm=False) as duckdb:
        result["runs"] = [_stream(duckdb, rows) for _ in range(1 + warm_runs)]
    json.dump(result, sys.stdout)
    return 0


def _stream(duckdb: Any, rows: int) -> dict[str, Any]:
    process = psutil.Process()
    gc.collect()
    baseline = process.memory_info().rss
    maxrss_before = _maxrss()
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, name="bench-rss", daemon=True)
    sampler.start()
    started = time.perf_counter()
    handle = duckdb.execute(f"SELECT * FROM range({rows})", timeout=600)
    batches = handle.batches()
    first = next(batches)
    first_s = time.perf_counter() - started
    streamed, count = first.num_rows, 1
    del first
    for batch in batches:
        streamed += batch.num_rows
        count += 1
    total_s = time.perf_counter() - started
    stop.set()
    sampler.join()
    peak = max(peak, process.memory_info().rss)
    maxrss_after = _maxrss()
    if maxrss_after > maxrss_before:  # the process peak was set during this run: it is exact
        peak = max(peak, maxrss_after)
    return {
        "first_batch_ms": first_s * 1000,
        "total_s": total_s,
        "rows": streamed,
        "batches": count,
        "outcome": handle.outcome.value,
        "rss_growth_bytes": peak - baseline,
    }


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
