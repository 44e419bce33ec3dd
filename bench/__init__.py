"""Benchmarks that `make bench` runs (``python -m bench [NAME ...]``).

A benchmark is a function that takes no argument and returns a list of :class:`Row`; it registers
itself with :func:`benchmark` under a dotted name such as ``duckdb.cancel``. Every module of this
package whose name does not start with ``_`` is imported by the runner, so a new engine or part
adds a module (``bench/spark_cancel.py`` with ``@benchmark("spark.cancel")``) and nothing else.

``python -m bench duckdb pool`` runs the benchmarks whose name contains any of the words. A
benchmark that cannot run here (its plugin is not installed, say) raises :class:`Skip`.

Benchmarks go through the public API only (``floe_tui.compute``), as a user of the library would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["BENCHMARKS", "Benchmark", "Row", "Skip", "benchmark", "check", "measured", "percentile"]


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    benchmark: str
    figure: str
    target: str = "-"
    #: None: informational, there is no target.
    met: bool | None = None


class Skip(Exception):
    """Raised by a benchmark that cannot run on this machine; the message says why."""


BenchmarkFn = Callable[[], list[Row]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    fn: BenchmarkFn
    description: str


#: Every registered benchmark, in registration order (modules are imported alphabetically).
BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register the decorated function under `name` (``engine.what``)."""

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        BENCHMARKS[name] = Benchmark(name, fn, doc[0] if doc else "")
        return fn

    return register


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with 30 samples, p99 is the slowest one."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def measured(
    benchmark: str,
    value: float,
    unit: str,
    *,
    below: float | None = None,
    digits: int = 2,
) -> Row:
    """A row for a measured figure; with `below`, the target is ``< below unit``."""
    figure = f"{value:,.{digits}f} {unit}".strip()
    if below is None:
        return Row(benchmark, figure)
    return Row(benchmark, figure, f"< {below:g} {unit}".strip(), value < below)


def check(benchmark: str, value: object, expected: object) -> Row:
    """A row for a value that must equal `expected`."""
    return Row(benchmark, str(value), f"= {expected}", value == expected)
