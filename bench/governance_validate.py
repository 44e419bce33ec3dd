"""Validate a generated hierarchy: 1 enterprise, 20 domains, 2,000 products, 100,000 transforms.

Its floor, measured in the same run: libyaml parsing the same files (`yaml.compose` with
`CSafeLoader`, one process, one core, without the interpreter's start), beside the whole
`floe-tui validate` process (start, imports, reading on every core, checks, resolution, output).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, benchmark, check, measured

DOMAINS = 20
TRANSFORMS_PER_PRODUCT = 50
#: Runs of the floor and of the process, taken in turns: each pair's ratio, then their median (a
#: busy machine slows both of a pair alike). Cold compiles: the best of `COMPILES` in turns.
PAIRS = 5
COMPILES = 2
#: The floor: libyaml's parse of every YAML file below argv[1], in this process, timed alone.
COMPOSE = """
import os, sys, time, yaml
files = sorted(os.path.join(d, n) for d, _, names in os.walk(sys.argv[1]) for n in names
               if n.endswith((".yaml", ".yml")))
started = time.perf_counter()
for name in files:
    with open(name, "rb") as handle:
        yaml.compose(handle.read().decode("utf-8"), Loader=yaml.CSafeLoader)
print(time.perf_counter() - started)
"""
ENTERPRISE = """apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: bench, scope: enterprise}
compute:
  approved:
    - {name: duckdb, connection: {path: ":memory:"}}
    - {name: duckdb_big, plugin: duckdb, connection: {path: ":memory:", threads: 2}}
  default: duckdb
"""
DOMAIN = """apiVersion: floe.dev/v1
kind: Manifest
metadata: {{name: domain-{d}, scope: domain}}
parent: ../../enterprise.yaml
compute: {{approved: [duckdb, duckdb_big], default: {default}}}
"""


def generate(root: Path, products: int) -> Path:
    """Write the tree; returns one product file (the one the re-validation changes)."""
    (root / "enterprise.yaml").write_text(ENTERPRISE)
    first: Path | None = None
    for d in range(DOMAINS):
        domain_dir = root / "domains" / f"domain-{d}"
        domain_dir.mkdir(parents=True)
        (domain_dir / "manifest.yaml").write_text(
            DOMAIN.format(d=d, default="duckdb" if d % 2 else "duckdb_big")
        )
        for p in range(products // DOMAINS):
            product_dir = domain_dir / "products" / f"product-{p}"
            product_dir.mkdir(parents=True)
            lines = [
                "apiVersion: floe.dev/v1",
                "kind: FloeSpec",
                f"metadata: {{name: product-{p}}}",
                "platform: {manifest: ../../manifest.yaml}",
                "transforms:",
            ]
            for t in range(TRANSFORMS_PER_PRODUCT):
                compute = ", compute: duckdb" if t % 3 == 0 else ", compute: duckdb_big" if t % 3 == 1 else ""
                lines.append(f"  - {{name: t_{p}_{t}{compute}}}")
            lines.append(f"environments: {{prod: {{transforms: {{t_{p}_1: {{threads: 4}}}}}}}}")
            path = product_dir / "floe.yaml"
            path.write_text("\n".join(lines) + "\n")
            first = first or path
    assert first is not None
    return first


def compile_in_child(root: Path, changed: Path) -> dict[str, float]:
    child = Path(__file__).with_name("_governance_child.py")
    run = subprocess.run(
        [sys.executable, str(child), str(root), str(changed)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(run.stdout))


def compose_floor(root: Path) -> float:
    """Seconds libyaml takes to parse the tree's files (`yaml.compose`, `CSafeLoader`)."""
    run = subprocess.run(
        [sys.executable, "-c", COMPOSE, str(root)], capture_output=True, text=True, check=True
    )
    return float(run.stdout)


def validate_process(root: Path) -> float:
    """Wall seconds of a whole `floe-tui validate ROOT` process, as a user or CI runs it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "OTEL_"))}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "floe_tui.cli", "validate", str(root)],
        capture_output=True,
        env=environ,
        check=True,
    )
    return time.perf_counter() - started


@benchmark("governance.validate")
def validate_large_tree() -> list[Row]:
    """100,000 transforms: validate beside libyaml's parse, cold compile, re-check, 10x scaling."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        small_root, large_root = Path(directory, "small"), Path(directory, "large")
        small_root.mkdir()
        large_root.mkdir()
        small_changed, large_changed = generate(small_root, 200), generate(large_root, 2000)
        time.sleep(0.1)  # older than a clock tick: the re-check trusts the files' (mtime, size)
        smalls, larges = [], []
        for _ in range(COMPILES):
            smalls.append(compile_in_child(small_root, small_changed))
            larges.append(compile_in_child(large_root, large_changed))
        small = min(smalls, key=lambda run: run["cold_s"])
        large = min(larges, key=lambda run: run["cold_s"])
        floors, processes = [], []
        for _ in range(PAIRS):
            floors.append(compose_floor(large_root))
            processes.append(validate_process(large_root))
    ratio = large["cold_s"] / small["cold_s"]
    over_floor = statistics.median(p / f for p, f in zip(processes, floors, strict=True))
    floor, process = statistics.median(floors), statistics.median(processes)
    label = "validate 1 enterprise, 20 domains, 2,000 products, 100,000 transforms"
    return [
        Row(
            "validate 100k transforms vs libyaml compose of the same files: "
            f"`floe-tui validate` process / compose, median of {PAIRS} pairs",
            f"{over_floor:.2f} x (medians {process:.2f} s / {floor:.2f} s)",
            "<= 1.0 x",
            over_floor <= 1.0,
        ),
        check(
            f"{label}: transforms resolved, no errors",
            int(large["transforms"]) * (large["errors"] == 0),
            100_000,
        ),
        measured(f"{label}: wall time", large["cold_s"], "s", below=2.0),
        measured(f"{label}: peak RSS", large["peak_rss_mb"], "MB", below=500),
        measured("10x the work (10,000 -> 100,000 transforms): time ratio", ratio, "x", below=10.5),
        measured(
            "re-validate the same tree after one product file changed",
            large["revalidate_s"] * 1000,
            "ms",
            below=100,
        ),
    ]
