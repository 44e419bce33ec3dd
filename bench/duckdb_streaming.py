"""Streaming on DuckDB: first-batch latency and memory growth over a 100M-row result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import Row, benchmark, check, measured

ROWS = 100_000_000  # streamed in full
WARM_RUNS = 3
MB = 1_000_000
MILLION = 1_000_000
ROOT = Path(__file__).resolve().parent.parent


@benchmark("duckdb.streaming")
def streaming() -> list[Row]:
    """Time from execute() to the first batch, and peak RSS growth while all 100M rows stream."""
    cold = _child()
    preimported = _child("--preimport")
    runs = cold["runs"] + preimported["runs"]
    warm = cold["runs"][1:] + preimported["runs"][1:]
    sql = f"`SELECT * FROM range({ROWS})`"
    first = f"DuckDB first batch of {sql}"
    rss = f"DuckDB peak RSS growth streaming all {ROWS // MILLION}M rows"
    best_rate = max(run["rows"] / run["total_s"] for run in runs)
    warm_first = max(run["first_batch_ms"] for run in warm)
    warm_rss = max(run["rss_growth_bytes"] for run in warm) / MB
    fresh = "first query in a fresh process"
    return [
        measured(f"{first}, {fresh}", cold["runs"][0]["first_batch_ms"], "ms", below=50),
        measured(
            f"{first}, {fresh} that imported pyarrow ({preimported['pyarrow_import_ms']:.0f} ms)",
            preimported["runs"][0]["first_batch_ms"],
            "ms",
            below=50,
        ),
        measured(f"{first}, warm, max of {len(warm)}", warm_first, "ms", below=50),
        measured(f"{rss}, {fresh}", cold["runs"][0]["rss_growth_bytes"] / MB, "MB", below=100),
        measured(f"{rss}, warm, max of {len(warm)}", warm_rss, "MB", below=100),
        measured(f"DuckDB streaming, {ROWS // MILLION}M rows, best", best_rate / MILLION, "M rows/s"),
        check(
            f"DuckDB runs that streamed all {ROWS:,} rows, outcome `completed`",
            sum(run["rows"] == ROWS and run["outcome"] == "completed" for run in runs),
            len(runs),
        ),
    ]


def _child(*flags: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench._stream_child", str(ROWS), str(WARM_RUNS), *flags]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"streaming child {' '.join(flags)} exited with {done.returncode}: {tail}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
