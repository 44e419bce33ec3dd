"""``python -m bench [NAME ...]``: run the benchmarks, print the figures, update the README.

With no NAME every registered benchmark runs and the README block is rewritten. With NAMEs only
the benchmarks whose name contains one of them run (``python -m bench duckdb``), and the README
is left alone unless ``--readme`` asks for it (the block would then hold only those rows).
Exits 1 when a benchmark failed to run; a missed target is a result, not a failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import bench
from bench import BENCHMARKS, Benchmark, Row, Skip
from bench._report import MET, machine_line, markdown_table, rewrite_readme

README = Path(__file__).resolve().parent.parent / "README.md"


def load_benchmarks() -> dict[str, Benchmark]:
    for module in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{bench.__name__}.{module.name}")
    return BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name contains one of these")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--readme", action="store_true", help="rewrite the README block even for a subset")
    group.add_argument("--no-readme", action="store_true", help="do not touch the README")
    args = parser.parse_args(argv)

    registered = load_benchmarks()
    selected = [b for name, b in registered.items() if not args.names or any(w in name for w in args.names)]
    if args.list:
        for item in selected:
            print(f"{item.name:24} {item.description}")
        return 0
    if not selected:
        print(f"no benchmark matches {' '.join(args.names)}; known: {', '.join(registered)}", file=sys.stderr)
        return 2

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load_before is not None and load_before > 0.5 * (os.cpu_count() or 1):
        print(f"warning: the machine is busy (load average {load_before:.2f}); tail figures will suffer")
    rows: list[Row] = []
    failed = False
    overall = time.perf_counter()
    for item in selected:
        print(f"== {item.name}: {item.description}", flush=True)
        started = time.perf_counter()
        try:
            produced = item.fn()
        except Skip as exc:
            print(f"   skipped: {exc}", flush=True)
            continue
        except Exception as exc:
            failed = True
            traceback.print_exc()
            produced = [Row(f"{item.name} (did not run)", f"error: {type(exc).__name__}", "-", False)]
        for row in produced:
            print(f"   {row.benchmark}: {row.figure}  [target {row.target}: {MET[row.met]}]", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
        rows.extend(produced)

    machine = machine_line(load_before)
    table = markdown_table(rows)
    print()
    print(table)
    print()
    print(machine)
    missed = [row for row in rows if row.met is False]
    took = time.perf_counter() - overall
    print(f"{len(rows)} figures, {len(missed)} target(s) missed, {took:.0f} s in all")

    if rows and not args.no_readme and (args.readme or not args.names):
        rewrite_readme(README, f"{table}\n\n{machine}")
        print(f"updated the benchmark block of {README.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
