"""Fixtures of the console core's tests: a small hierarchy on disk, with in-memory DuckDB targets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_tui.governance import Compiler, Plan

ENTERPRISE = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: testco, scope: enterprise}
environments: [dev, prod]
compute:
  approved:
    - name: duckdb
      connection: {path: ":memory:", threads: 1, memory_limit: 256MB}
    - name: spare
      plugin: duckdb
      connection: {path: ":memory:", threads: %(threads)s}
  default: duckdb
  query_timeout_s: 30
"""
DOMAIN = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: sales, scope: domain}
parent: ../../enterprise.yaml
compute: {approved: [duckdb, spare]}
"""
PRODUCT = """\
apiVersion: floe.dev/v1
kind: FloeSpec
metadata: {name: %(name)s}
platform: {manifest: ../../manifest.yaml}
%(compute)stransforms:
  - {name: t_%(name)s}
"""


def write_tree(root: Path, threads: int = 1) -> Path:
    """testco -> sales -> orders (both targets) and billing (duckdb only)."""
    for name in ("orders", "billing"):
        (root / "domains" / "sales" / "products" / name).mkdir(parents=True, exist_ok=True)
    (root / "enterprise.yaml").write_text(ENTERPRISE % {"threads": threads})
    (root / "domains" / "sales" / "manifest.yaml").write_text(DOMAIN)
    products = root / "domains" / "sales" / "products"
    (products / "orders" / "floe.yaml").write_text(PRODUCT % {"name": "orders", "compute": ""})
    billing = PRODUCT % {"name": "billing", "compute": "compute: {approved: [duckdb]}\n"}
    (products / "billing" / "floe.yaml").write_text(billing)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "manifests")


@pytest.fixture
def compiled(tree: Path) -> Plan:
    return Compiler().compile(tree)


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


class Collected:
    """Callbacks of the monitor (called on its threads), kept for the test to read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[Any] = []
        self.events: list[Any] = []

    def sample(self, sample: Any) -> None:
        with self.lock:
            self.samples.append(sample)

    def event(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)


@pytest.fixture
def collected() -> Collected:
    return Collected()


@pytest.fixture
def wait() -> Callable[..., None]:
    return wait_until


@pytest.fixture
def rewrite() -> Callable[..., Path]:
    """`rewrite(root, threads=2)`: the same hierarchy, the `spare` target's configuration changed."""
    return write_tree
