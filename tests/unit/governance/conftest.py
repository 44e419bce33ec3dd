"""Fixtures for the governance tests: manifest trees written as real files under tmp_path.

`write_tree` writes a clean three-level tree (below) with some files replaced, added or removed;
`diagnose` compiles a path and returns each diagnostic as (code, file, line, column).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from floe_tui.governance import compile_manifests

ENTERPRISE = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: acme, scope: enterprise}
compute:
  approved:
    - {name: duckdb, plugin: duckdb}
    - {name: duckdb_big, plugin: duckdb}
  default: duckdb
"""
DOMAIN = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: sales, scope: domain}
parent: ../../enterprise.yaml
"""
PRODUCT = """\
apiVersion: floe.dev/v1
kind: FloeSpec
metadata: {name: orders}
platform: {manifest: ../../manifest.yaml}
transforms:
  - {name: stg_orders}
  - {name: fct_orders, compute: duckdb_big}
"""
#: enterprise.yaml, domains/sales/manifest.yaml, domains/sales/products/orders/floe.yaml:
#: clean, and both targets are used.
BASE = {
    "enterprise.yaml": ENTERPRISE,
    "domains/sales/manifest.yaml": DOMAIN,
    "domains/sales/products/orders/floe.yaml": PRODUCT,
}

Where = tuple[str, str, int, int]


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[..., Path]:
    """write_tree({path: text or None}, base=True, name="tree") -> the tree's root folder."""

    def write(files: dict[str, str | None] | None = None, *, base: bool = True, name: str = "tree") -> Path:
        root = tmp_path / name
        for relative, text in {**(BASE if base else {}), **(files or {})}.items():
            if text is not None:
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text), encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        return root

    return write


@pytest.fixture
def diagnose() -> Callable[[Path], list[Where]]:
    """diagnose(path) -> [(code, file, line, column)] of compiling that directory or file."""

    def run(path: Path) -> list[Where]:
        plan = compile_manifests(path)
        return [(d.code, d.file, d.line, d.column) for d in plan.diagnostics]

    return run
