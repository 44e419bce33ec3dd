"""The plan diff (floe_tui.governance.diff) on small trees: which level a change is blamed on, how
diagnostics are matched across versions, and the per-node view the console's `--diff` shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from floe_tui.governance import Compiler
from floe_tui.governance.diff import PlanDiff, changed_below, diff_plans, node_changes

from .conftest import ENTERPRISE, PRODUCT

ORDERS = "domains/sales/products/orders/floe.yaml"
ORDERS_NODE = ("enterprise:acme", "domain:sales", "product:orders")
FCT = (*ORDERS_NODE, "transform:fct_orders")
STG = (*ORDERS_NODE, "transform:stg_orders")


def diff(
    write_tree: Callable[..., Path], base: dict[str, str | None], head: dict[str, str | None]
) -> PlanDiff:
    before = Compiler().compile(write_tree(base, name="base"))
    after = Compiler().compile(write_tree(head, name="head"))
    return diff_plans(before, after, ["dev"])


def test_an_explicit_compute_change_is_the_transforms_own(write_tree: Callable[..., Path]) -> None:
    result = diff(write_tree, {}, {ORDERS: PRODUCT.replace("compute: duckdb_big", "compute: duckdb")})
    [change] = result.transforms.changed
    assert change.cause.scope == "transform" and change.cause.path == list(FCT)
    assert change.cause.reason == "fct_orders changes its compute duckdb_big -> duckdb"
    assert change.explanation == "fct_orders changes its compute duckdb_big -> duckdb"
    assert result.levels == []


def test_dropping_an_explicit_compute_falls_back_to_the_default(write_tree: Callable[..., Path]) -> None:
    result = diff(write_tree, {}, {ORDERS: PRODUCT.replace(", compute: duckdb_big", "")})
    [change] = result.transforms.changed
    assert change.explanation == (
        "fct_orders no longer declares a compute (was duckdb_big); "
        "fct_orders falls back to the enterprise default (duckdb)"
    )
    # duckdb_big is now used by no transform: a warning introduced at the enterprise
    assert [(d.code, d.file) for d in result.diagnostics.introduced] == [("FLOE-W500", "enterprise.yaml")]


def test_an_enterprise_dropping_a_target_is_blamed_on_the_enterprise(write_tree: Callable[..., Path]) -> None:
    narrowed = ENTERPRISE.replace("    - {name: duckdb_big, plugin: duckdb}\n", "")
    result = diff(write_tree, {}, {"enterprise.yaml": narrowed})
    [change] = result.transforms.changed
    assert (change.cause.scope, change.cause.name) == ("enterprise", "acme")
    assert change.explanation == "enterprise acme no longer approves duckdb_big; fct_orders has no compute"
    assert {d.code for d in result.diagnostics.introduced} == {"FLOE-E300"}
    inherited = {level.name: level.inherited for level in result.levels}
    assert inherited == {"acme": False, "sales": True, "sales/orders": True}
    assert not result.ok


def test_a_moved_diagnostic_is_the_same_and_a_repeated_one_is_new(write_tree: Callable[..., Path]) -> None:
    broken = PRODUCT.replace("compute: duckdb_big", "compute: nosuch")
    moved = diff(write_tree, {ORDERS: broken}, {ORDERS: "# a comment\n" + broken})
    assert moved.diagnostics.introduced == [] and moved.diagnostics.fixed == []
    twice = broken + "  - {name: other, compute: nosuch}\n"
    repeated = diff(write_tree, {ORDERS: broken}, {ORDERS: twice})
    [introduced] = repeated.diagnostics.introduced
    assert (introduced.code, introduced.line) == ("FLOE-E300", 8)


def test_a_new_product_is_an_added_level_with_its_transforms(write_tree: Callable[..., Path]) -> None:
    other = PRODUCT.replace("name: orders", "name: returns")
    result = diff(write_tree, {}, {"domains/sales/products/returns/floe.yaml": other})
    assert [t.transform for t in result.transforms.added] == ["fct_orders", "stg_orders"]
    [level] = result.levels
    assert (level.status, level.name, level.path) == (
        "added",
        "sales/returns",
        ["enterprise:acme", "domain:sales", "product:returns"],
    )
    assert level.approved is not None and level.approved.added == ["duckdb", "duckdb_big"]


def test_node_changes_are_keyed_as_the_console_keys_its_tree(write_tree: Callable[..., Path]) -> None:
    result = diff(write_tree, {}, {ORDERS: PRODUCT.replace("{name: stg_orders}", "{name: stg_order}")})
    changes = node_changes(result)
    assert set(changes) == {(*ORDERS_NODE, "transform:stg_order"), STG}
    added, removed = changes[(*ORDERS_NODE, "transform:stg_order")], changes[STG]
    assert (added.status, added.mark, removed.status, removed.mark) == ("added", "+", "removed", "-")
    assert changed_below(changes, FCT[:2]) and not changed_below(changes, ("enterprise:other",))


def test_node_changes_give_old_and_new_lines(write_tree: Callable[..., Path]) -> None:
    sales = "domains/sales/manifest.yaml"
    domain = (
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: sales, scope: domain}\n"
        "parent: ../../enterprise.yaml\ncompute: {default: duckdb_big}\n"
    )
    result = diff(write_tree, {}, {sales: domain})
    changes = node_changes(result)
    stg = changes[STG]
    assert stg.status == "changed" and stg.mark == "~"
    assert stg.lines == (
        "dev: duckdb (enterprise-default, output dev_duckdb) -> "
        "duckdb_big (domain-default, output dev_duckdb_big)",
        "because domain sales now declares default duckdb_big (was duckdb, inherited); "
        "stg_orders falls back to the domain default (duckdb_big)",
    )
    assert changes[FCT[:2]].lines == ("default: duckdb (from enterprise) -> duckdb_big (from domain)",)
    assert changes[ORDERS_NODE].lines == (
        "default: duckdb (from enterprise) -> duckdb_big (from domain)",
        "(inherited from a level above)",
    )
    assert FCT not in changes  # its explicit compute did not move


def test_twin_enterprises_are_keyed_with_their_file(write_tree: Callable[..., Path]) -> None:
    second = {"other/enterprise.yaml": ENTERPRISE.replace("default: duckdb", "default: duckdb_big")}
    result = diff(write_tree, {"other/enterprise.yaml": ENTERPRISE}, second)
    [level] = result.levels
    assert level.path == ["enterprise:acme@other/enterprise.yaml"]
    assert level.default is not None and (level.default.old, level.default.new) == ("duckdb", "duckdb_big")
