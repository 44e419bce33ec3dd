"""Validate a generated hierarchy: 1 enterprise, 20 domains, 2,000 products, 100,000 transforms."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import Row, benchmark, check, measured

DOMAINS = 20
TRANSFORMS_PER_PRODUCT = 50
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


def compile_in_child(products: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        changed = generate(Path(directory), products)
        child = Path(__file__).with_name("_governance_child.py")
        run = subprocess.run(
            [sys.executable, str(child), directory, str(changed)], capture_output=True, text=True, check=True
        )
        return dict(json.loads(run.stdout))


@benchmark("governance.validate")
def validate_large_tree() -> list[Row]:
    """Compile 100,000 transforms cold, re-check after one product changed, and 10x scaling."""
    small = compile_in_child(200)
    large = compile_in_child(2000)
    ratio = large["cold_s"] / small["cold_s"]
    label = "validate 1 enterprise, 20 domains, 2,000 products, 100,000 transforms"
    return [
        check(
            f"{label}: transforms resolved, no errors",
            int(large["transforms"]) * (large["errors"] == 0),
            100_000,
        ),
        measured(f"{label}: wall time", large["cold_s"], "s", below=2.0),
        measured(f"{label}: peak RSS", large["peak_rss_mb"], "MB", below=500),
        measured("10x the work (10,000 -> 100,000 transforms): time ratio", ratio, "x", below=11),
        measured(
            "re-validate the same tree after one product file changed",
            large["revalidate_s"] * 1000,
            "ms",
            below=100,
        ),
    ]
