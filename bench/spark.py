"""Spark: session start (classic and Connect), warm SELECT 1, cancel, first batch and RSS of a scan.

The measurements live beside the plugin (plugins/floe-compute-spark/bench_spark.py); this module
puts their rows into the shared table.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from bench import Row, Skip, benchmark

SCRIPT = Path(__file__).resolve().parent.parent / "plugins" / "floe-compute-spark" / "bench_spark.py"


@benchmark("spark.all")
def spark_benchmarks() -> list[Row]:
    """Classic local[2] and Spark Connect: start, SELECT 1, cancel, 100M-row scan."""
    if importlib.util.find_spec("floe_compute_spark") is None:
        raise Skip("the Spark plugin is not installed")
    spec = importlib.util.spec_from_file_location("bench_spark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [
        Row(name, figure, target or "-", _met(figure, target))
        for name, figure, target in module.run_benchmarks(runs=30, scan_budget_s=45.0)
    ]


_SCALE = {"ms": 0.001, "s": 1.0, "MiB": 1.0}


def _met(figure: str, target: str) -> bool | None:
    """'< 2 s' against '956 ms' or '< +100 MiB' against '+40 MiB': the figure's first number."""
    wanted = re.match(r"<\s*\+?([\d.]+)\s*(ms|s|MiB)\b", target or "")
    got = re.match(r"\+?([\d.,]+)\s*(ms|s|MiB)\b", figure)
    if not wanted or not got or (got.group(2) == "MiB") != (wanted.group(2) == "MiB"):
        return None
    return (
        float(got.group(1).replace(",", "")) * _SCALE[got.group(2)]
        < float(wanted.group(1)) * _SCALE[wanted.group(2)]
    )
