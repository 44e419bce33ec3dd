"""Environment parity (E400): a transform keeps one compute in every environment; overrides tune."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from floe_tui.governance import compile_manifests

Diagnose = Callable[[Path], list[tuple[str, str, int, int]]]
WriteTree = Callable[..., Path]
ORDERS = "domains/sales/products/orders/floe.yaml"
HEAD = """\
apiVersion: floe.dev/v1
kind: FloeSpec
metadata: {name: orders}
platform: {manifest: ../../manifest.yaml}
transforms:
  - {name: stg_orders}
  - {name: fct_orders, compute: duckdb_big}
environments:
"""


def test_tuning_overrides_in_three_environments_keep_parity(write_tree: WriteTree) -> None:
    overrides = (
        "  dev: {transforms: {fct_orders: {threads: 1}}}\n"
        "  staging: {transforms: {fct_orders: {threads: 2}}}\n"
        "  prod: {transforms: {fct_orders: {threads: 8, compute: duckdb_big}}}\n"  # the same compute: fine
    )
    plan = compile_manifests(write_tree({ORDERS: HEAD + overrides}))
    assert plan.diagnostics == []
    fct = next(t for t in plan.transforms if t.transform == "fct_orders")
    assert fct.environments == {"dev": "duckdb_big", "staging": "duckdb_big", "prod": "duckdb_big"}


def test_a_break_is_reported_once_per_transform_naming_every_environment(write_tree: WriteTree) -> None:
    overrides = (
        "  dev: {transforms: {fct_orders: {threads: 1}}}\n"
        "  staging:\n    transforms:\n      fct_orders: {compute: duckdb}\n"
        "  prod:\n    transforms:\n      fct_orders: {compute: duckdb, threads: 8}\n"
    )
    plan = compile_manifests(write_tree({ORDERS: HEAD + overrides}))
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [("FLOE-E400", ORDERS, 12, 20)]
    message = plan.diagnostics[0].message
    assert "fct_orders" in message
    assert "dev: duckdb_big, staging: duckdb, prod: duckdb" in message
    assert "staging, prod" in plan.diagnostics[0].hint


def test_two_transforms_breaking_parity_give_two_diagnostics(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    overrides = "  prod:\n    transforms:\n      stg_orders: {compute: duckdb_big}\n"
    overrides += "      fct_orders: {compute: duckdb}\n"
    assert diagnose(write_tree({ORDERS: HEAD + overrides})) == [
        ("FLOE-E400", ORDERS, 11, 20),
        ("FLOE-E400", ORDERS, 12, 20),
    ]


def test_a_default_transform_moved_by_an_override_breaks_parity(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    overrides = "  staging: {transforms: {stg_orders: {compute: duckdb_big}}}\n"
    assert diagnose(write_tree({ORDERS: HEAD + overrides})) == [("FLOE-E400", ORDERS, 9, 39)]


def test_an_override_in_an_unknown_environment_is_only_e402(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    overrides = "  production: {transforms: {fct_orders: {compute: duckdb}}}\n"
    assert diagnose(write_tree({ORDERS: HEAD + overrides})) == [("FLOE-E402", ORDERS, 9, 3)]


def test_an_override_of_a_transform_without_a_valid_compute_is_only_e300(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    text = HEAD.replace("compute: duckdb_big}", "compute: snowflake}")
    overrides = "  prod: {transforms: {fct_orders: {compute: duckdb}}}\n"
    assert diagnose(write_tree({ORDERS: text + overrides})) == [("FLOE-E300", ORDERS, 7, 33)]


def test_custom_environments_are_checked_too(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = """\
    apiVersion: floe.dev/v1
    kind: Manifest
    metadata: {name: acme, scope: enterprise}
    environments: [dev, qa, prod]
    compute:
      approved: [{name: duckdb}, {name: duckdb_big, plugin: duckdb}]
      default: duckdb
    """
    overrides = "  qa: {transforms: {fct_orders: {compute: duckdb}}}\n"
    root = write_tree({"enterprise.yaml": enterprise, ORDERS: HEAD + overrides})
    assert diagnose(root) == [("FLOE-E400", ORDERS, 9, 34)]
    assert "dev: duckdb_big, qa: duckdb, prod: duckdb_big" in compile_manifests(root).diagnostics[0].message
