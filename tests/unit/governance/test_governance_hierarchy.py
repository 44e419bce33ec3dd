"""Loading and linking a tree: E200-E203, directory and file arguments, display paths."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from floe_tui.governance import Compiler, compile_manifests

Diagnose = Callable[[Path], list[tuple[str, str, int, int]]]
WriteTree = Callable[..., Path]
ENTERPRISE = "enterprise.yaml"
SALES = "domains/sales/manifest.yaml"
ORDERS = "domains/sales/products/orders/floe.yaml"


def domain(name: str, parent: str) -> str:
    head = "apiVersion: floe.dev/v1\nkind: Manifest\n"
    return head + f"metadata: {{name: {name}, scope: domain}}\nparent: {parent}\n"


def product(name: str, manifest: str = "../../manifest.yaml", transforms: str = "[{name: t}]") -> str:
    return (
        "apiVersion: floe.dev/v1\nkind: FloeSpec\n"
        f"metadata: {{name: {name}}}\nplatform: {{manifest: {manifest}}}\ntransforms: {transforms}\n"
    )


# -- E200 -----------------------------------------------------------------------------------------
def test_a_missing_parent_is_e200_at_the_parent_value(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({SALES: domain("sales", "../enterprise.yaml")})
    assert diagnose(root) == [("FLOE-E200", SALES, 4, 9)]


def test_a_missing_platform_manifest_is_e200_at_its_value(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({ORDERS: product("orders", "../manifest.yaml", "[{name: t, compute: duckdb_big}]")})
    assert diagnose(root) == [("FLOE-E200", ORDERS, 4, 22)]


def test_a_parent_that_is_a_directory_is_e200(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({SALES: domain("sales", "../..")})
    (root / "x.yaml").mkdir()  # a directory with a manifest's name is not read as one either
    assert diagnose(root) == [("FLOE-E200", SALES, 4, 9)]


def test_a_parent_that_is_another_tools_file_is_e200(write_tree: WriteTree) -> None:
    root = write_tree({SALES: domain("sales", "../../dbt_project.yml"), "dbt_project.yml": "name: acme\n"})
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [("FLOE-E200", SALES, 4, 9)]
    assert "not a floe manifest" in plan.diagnostics[0].message


# -- E201 -----------------------------------------------------------------------------------------
def test_a_cycle_is_reported_once_naming_every_file(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            SALES: domain("sales", "../finance/manifest.yaml"),
            "domains/finance/manifest.yaml": domain("finance", "../marketing/manifest.yaml"),
            "domains/marketing/manifest.yaml": domain("marketing", "../sales/manifest.yaml"),
        }
    )
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E201", "domains/finance/manifest.yaml", 4, 9)
    ]
    message = plan.diagnostics[0].message
    for name in ("finance", "marketing", "sales"):
        assert f"domains/{name}/manifest.yaml" in message
    assert plan.transforms == []  # products below a cycle are not resolved against anything


def test_a_domain_that_is_its_own_parent_is_a_cycle(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({SALES: domain("sales", "manifest.yaml")})
    assert diagnose(root) == [("FLOE-E201", SALES, 4, 9)]


def test_a_cycle_found_from_a_file_argument_is_reported_once(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            SALES: domain("sales", "../finance/manifest.yaml"),
            "domains/finance/manifest.yaml": domain("finance", "../sales/manifest.yaml"),
        }
    )
    plan = compile_manifests(root / ORDERS)
    # Paths are shown relative to the file's folder.
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E201", "../../../finance/manifest.yaml", 4, 9)
    ]
    assert "../../manifest.yaml" in plan.diagnostics[0].message


# -- E202 -----------------------------------------------------------------------------------------
def test_an_enterprise_with_a_parent_is_e202_at_the_key(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = (
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: acme, scope: enterprise}\n"
        "parent: holding.yaml\n"
        "compute: {approved: [{name: duckdb}, {name: duckdb_big, plugin: duckdb}], default: duckdb}\n"
    )
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == [("FLOE-E202", ENTERPRISE, 4, 1)]


def test_a_domain_without_a_parent_is_e202_at_its_scope(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree(
        {SALES: "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: sales, scope: domain}\n"}
    )
    assert diagnose(root) == [("FLOE-E202", SALES, 3, 32)]


def test_a_product_pointing_at_a_product_is_e202(write_tree: WriteTree, diagnose: Diagnose) -> None:
    customers = "domains/sales/products/customers/floe.yaml"
    root = write_tree({customers: product("customers", "../orders/floe.yaml")})
    assert diagnose(root) == [("FLOE-E202", customers, 4, 22)]


def test_a_domain_under_a_domain_is_e202(write_tree: WriteTree, diagnose: Diagnose) -> None:
    emea = "domains/sales/emea/manifest.yaml"
    root = write_tree({emea: domain("emea", "../manifest.yaml")})
    assert diagnose(root) == [("FLOE-E202", emea, 4, 9)]


# -- E203 -----------------------------------------------------------------------------------------
def test_a_target_approved_twice_is_e203_at_the_later_name(write_tree: WriteTree) -> None:
    enterprise = (
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: acme, scope: enterprise}\n"
        "compute:\n  approved:\n    - {name: duckdb}\n    - {name: duckdb_big, plugin: duckdb}\n"
        "    - {name: duckdb, connection: {threads: many}}\n  default: duckdb\n"
    )
    plan = compile_manifests(write_tree({ENTERPRISE: enterprise}))
    # The repeat is not checked further: its bad connection is not a second diagnostic.
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E203", ENTERPRISE, 8, 14)
    ]
    assert [c.name for c in plan.targets["dev"]] == ["duckdb", "duckdb_big"]


def test_a_domain_defined_twice_is_e203_at_the_later_file(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({"domains/sales-eu/manifest.yaml": domain("sales", "../../enterprise.yaml")})
    assert diagnose(root) == [("FLOE-E203", "domains/sales/manifest.yaml", 3, 18)]


def test_a_product_defined_twice_in_a_domain_is_e203(write_tree: WriteTree, diagnose: Diagnose) -> None:
    copy = "domains/sales/products/orders-v2/floe.yaml"
    root = write_tree({copy: product("orders")})
    assert diagnose(root) == [("FLOE-E203", ORDERS, 3, 18)]


def test_the_same_product_name_in_two_domains_is_fine(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            "domains/finance/manifest.yaml": domain("finance", "../../enterprise.yaml"),
            "domains/finance/products/orders/floe.yaml": product("orders"),
        }
    )
    plan = compile_manifests(root)
    assert plan.diagnostics == []
    assert plan.product("orders") is None  # ambiguous by name ...
    finance_orders = plan.product("finance/orders")  # ... unique with its domain
    assert finance_orders is not None and finance_orders.parent is not None
    assert finance_orders.parent.name == "finance"


def test_a_transform_defined_twice_is_e203_at_the_later_name(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    transforms = "\n  - {name: a, compute: duckdb_big}\n  - {name: b}\n  - {name: a}"
    assert diagnose(write_tree({ORDERS: product("orders", transforms=transforms)})) == [
        ("FLOE-E203", ORDERS, 8, 12)
    ]


# -- directories and files -----------------------------------------------------------------------
def test_a_broken_file_does_not_hide_the_other_files_diagnostics(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree(
        {
            "domains/sales/products/customers/floe.yaml": "transforms: [\n",
            "domains/sales/products/returns/floe.yaml": product(
                "returns", transforms="[{name: r, compute: x}]"
            ),
        }
    )
    assert diagnose(root) == [
        ("FLOE-E100", "domains/sales/products/customers/floe.yaml", 2, 1),
        ("FLOE-E300", "domains/sales/products/returns/floe.yaml", 5, 33),
    ]


def test_a_file_argument_follows_links_upward_and_reports_no_unused_target(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            ORDERS: product("orders"),  # uses only duckdb: in a directory, duckdb_big would be W500
            "domains/sales/products/customers/floe.yaml": "not: [valid\n",
        }
    )
    assert [d.code for d in compile_manifests(root).diagnostics] == ["FLOE-E100"]
    plan = compile_manifests(root / ORDERS)
    assert plan.diagnostics == []
    assert [(level.scope, level.name) for level in plan.levels("enterprise") + plan.levels("domain")] == [
        ("enterprise", "acme"),
        ("domain", "sales"),
    ]
    assert [(t.product, t.transform, t.compute) for t in plan.transforms] == [("orders", "t", "duckdb")]
    assert plan.floe_files == 3


def test_display_paths_are_relative_to_the_argument_directory(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree({ORDERS: product("orders", transforms="[{name: t, compute: x}]")})
    assert diagnose(root / "domains") == [("FLOE-E300", "sales/products/orders/floe.yaml", 5, 33)]
    assert diagnose(root / ORDERS) == [("FLOE-E300", "floe.yaml", 5, 33)]


def test_hidden_folders_and_files_are_not_read(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree({".cache/broken.yaml": "a: [\n", "domains/.orders.yaml": "b: {\n"})
    assert diagnose(root) == []


def test_a_recheck_reads_the_files_that_changed(write_tree: WriteTree) -> None:
    root = write_tree()
    compiler = Compiler()
    assert compiler.compile(root).diagnostics == []
    (root / ORDERS).write_text(product("orders", transforms="[{name: t, compute: snowflake}]"))
    assert [d.code for d in compiler.compile(root).diagnostics] == ["FLOE-E300"]
    (root / ORDERS).write_text(product("orders", transforms="[{name: t}, {name: u, compute: duckdb_big}]"))
    assert compiler.compile(root).diagnostics == []


def test_a_recheck_sees_a_same_size_edit_that_left_the_mtime_alone(write_tree: WriteTree) -> None:
    """A filesystem with whole-second timestamps: two saves in one second keep the same mtime."""
    root = write_tree({ORDERS: product("orders", transforms="[{name: t, compute: duckdb_big}]")})
    this_second = time.time_ns() // 1_000_000_000 * 1_000_000_000
    os.utime(root / ORDERS, ns=(this_second, this_second))
    compiler = Compiler()
    assert [t.compute for t in compiler.compile(root).transforms] == ["duckdb_big"]
    edited = product("orders", transforms="[{name: t, compute: duckdb_xyz}]")
    assert len(edited) == (root / ORDERS).stat().st_size  # same size, and below the same mtime
    (root / ORDERS).write_text(edited)
    os.utime(root / ORDERS, ns=(this_second, this_second))
    assert [d.code for d in compiler.compile(root).diagnostics] == ["FLOE-E300"]  # duckdb_xyz: not approved
