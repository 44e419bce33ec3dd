"""Resolution: effective approved sets and defaults per level, each transform's compute with its
provenance, target configurations per environment, and E300-E304, E402, W500."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from floe_tui.governance import compile_manifests

Diagnose = Callable[[Path], list[tuple[str, str, int, int]]]
WriteTree = Callable[..., Path]
ENTERPRISE = "enterprise.yaml"
SALES = "domains/sales/manifest.yaml"
ORDERS = "domains/sales/products/orders/floe.yaml"
THREE_TARGETS = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: acme, scope: enterprise}
compute:
  approved:
    - {name: duckdb, plugin: duckdb}
    - {name: duckdb_big, plugin: duckdb}
    - {name: duckdb_small, plugin: duckdb}
  default: duckdb
"""


#: Transforms that use each of THREE_TARGETS, so that none of them is unused (W500).
USES_ALL = "[{name: a}, {name: b, compute: duckdb_big}, {name: c, compute: duckdb_small}]"


def domain(name: str, compute: str = "") -> str:
    text = f"apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {{name: {name}, scope: domain}}\n"
    return text + "parent: ../../enterprise.yaml\n" + (f"compute: {compute}\n" if compute else "")


def product(name: str, transforms: str, compute: str = "", manifest: str = "../../manifest.yaml") -> str:
    text = f"apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {{name: {name}}}\n"
    text += f"platform: {{manifest: {manifest}}}\n" + (f"compute: {compute}\n" if compute else "")
    return text + f"transforms: {transforms}\n"


# -- provenance at every level -------------------------------------------------------------------
@pytest.fixture
def every_level(write_tree: WriteTree) -> Path:
    return write_tree(
        {
            ENTERPRISE: THREE_TARGETS,
            SALES: domain("sales", "{approved: [duckdb, duckdb_big], default: duckdb_big}"),
            ORDERS: product(
                "orders",
                "[{name: stg_orders, compute: duckdb_big}, {name: fct_orders}]",
                "{default: duckdb}",
            ),
            "domains/sales/products/customers/floe.yaml": product("customers", "[{name: dim_customers}]"),
            "domains/finance/manifest.yaml": domain("finance"),  # declares nothing: passes acme's on
            "domains/finance/products/ledger/floe.yaml": product("ledger", "[{name: fct_ledger}]"),
            "domains/finance/products/revenue/floe.yaml": product(
                "revenue", "[{name: fct_revenue}]", "{approved: [duckdb_small], default: duckdb_small}"
            ),
            "domains/marketing/manifest.yaml": domain("marketing", "{approved: [duckdb, duckdb_small]}"),
            "domains/marketing/products/campaigns/floe.yaml": product(
                "campaigns", "[{name: fct_campaigns}, {name: stg_events, compute: duckdb_small}]"
            ),
            "products/platform-audit/floe.yaml": product(
                "platform-audit", "[{name: audit_log}]", manifest="../../enterprise.yaml"
            ),
        }
    )


def test_every_transform_resolves_with_the_level_that_declared_its_compute(every_level: Path) -> None:
    plan = compile_manifests(every_level)
    assert plan.diagnostics == []
    resolved = {(t.domain, t.product, t.transform): (t.compute, t.source) for t in plan.transforms}
    assert resolved == {
        ("sales", "orders", "stg_orders"): ("duckdb_big", "explicit"),
        ("sales", "orders", "fct_orders"): ("duckdb", "product-default"),
        ("sales", "customers", "dim_customers"): ("duckdb_big", "domain-default"),
        ("finance", "ledger", "fct_ledger"): ("duckdb", "enterprise-default"),
        ("finance", "revenue", "fct_revenue"): ("duckdb_small", "product-default"),
        ("marketing", "campaigns", "fct_campaigns"): ("duckdb", "enterprise-default"),
        ("marketing", "campaigns", "stg_events"): ("duckdb_small", "explicit"),
        (None, "platform-audit", "audit_log"): ("duckdb", "enterprise-default"),
    }
    for transform in plan.transforms:
        assert transform.environments == dict.fromkeys(["dev", "staging", "prod"], transform.compute)


def test_each_level_has_its_effective_set_and_default(every_level: Path) -> None:
    plan = compile_manifests(every_level)
    levels = {
        level.qualified_name: (level.approved, level.default, level.default_declared_by)
        for level in plan.levels("enterprise") + plan.levels("domain") + plan.levels("product")
    }
    assert levels == {
        "acme": (["duckdb", "duckdb_big", "duckdb_small"], "duckdb", "enterprise"),
        "sales": (["duckdb", "duckdb_big"], "duckdb_big", "domain"),
        "finance": (["duckdb", "duckdb_big", "duckdb_small"], "duckdb", "enterprise"),
        "marketing": (["duckdb", "duckdb_small"], "duckdb", "enterprise"),
        "sales/orders": (["duckdb", "duckdb_big"], "duckdb", "product"),
        "sales/customers": (["duckdb", "duckdb_big"], "duckdb_big", "domain"),
        "finance/ledger": (["duckdb", "duckdb_big", "duckdb_small"], "duckdb", "enterprise"),
        "finance/revenue": (["duckdb_small"], "duckdb_small", "product"),
        "marketing/campaigns": (["duckdb", "duckdb_small"], "duckdb", "enterprise"),
        "platform-audit": (["duckdb", "duckdb_big", "duckdb_small"], "duckdb", "enterprise"),
    }


def test_a_transform_line_points_at_its_name(every_level: Path) -> None:
    plan = compile_manifests(every_level)
    orders = plan.product("orders")
    assert orders is not None
    assert [(t.file, t.line) for t in orders.transforms] == [(ORDERS, 6), (ORDERS, 6)]
    assert orders.transforms[1].output("prod") == "prod_duckdb"


# -- E300-E302 ------------------------------------------------------------------------------------
def test_a_transform_compute_outside_the_product_set_is_e300(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree(
        {
            ENTERPRISE: THREE_TARGETS,
            SALES: domain("sales", "{approved: [duckdb, duckdb_small]}"),
            ORDERS: product(
                "orders", "\n  - {name: a, compute: duckdb_small}\n  - {name: b, compute: duckdb_big}"
            ),
        }
    )
    assert diagnose(root) == [("FLOE-E300", ORDERS, 7, 24)]
    transforms = compile_manifests(root).transforms
    assert [(t.transform, t.compute, t.source) for t in transforms] == [
        ("a", "duckdb_small", "explicit"),
        ("b", None, None),
    ]


def test_a_product_approving_outside_its_domain_is_e301(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree(
        {
            ENTERPRISE: THREE_TARGETS,
            SALES: domain("sales", "{approved: [duckdb, duckdb_big]}"),
            ORDERS: product(
                "orders",
                "[{name: a}, {name: b, compute: duckdb_big}]",
                "{approved: [duckdb, duckdb_big, duckdb_small]}",
            ),
            "domains/finance/manifest.yaml": domain("finance"),
            "domains/finance/products/ledger/floe.yaml": product(
                "ledger", "[{name: l, compute: duckdb_small}]"
            ),
        }
    )
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [("FLOE-E301", ORDERS, 5, 42)]
    assert "domain `sales`" in plan.diagnostics[0].message
    orders = plan.product("orders")
    assert orders is not None and orders.approved == ["duckdb", "duckdb_big"]  # the outsider is dropped


def test_a_default_outside_the_level_set_is_e302_at_the_default(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree(
        {
            ORDERS: product(
                "orders",
                "[{name: a, compute: duckdb_big}, {name: b}]",
                "{approved: [duckdb_big], default: duckdb}",
            )
        }
    )
    # `b` has no compute now (no default): below it no target counts as unused.
    assert diagnose(root) == [("FLOE-E302", ORDERS, 5, 44)]


def test_an_enterprise_default_outside_its_set_is_e302(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = THREE_TARGETS.replace("default: duckdb", "default: spark")
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product("orders", USES_ALL.replace("{name: a}", "{name: a, compute: duckdb}")),
        }
    )
    assert diagnose(root) == [("FLOE-E302", ENTERPRISE, 9, 12)]


def test_an_inherited_default_that_is_no_longer_approved_is_e302(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree({SALES: domain("sales", "{approved: [duckdb_big]}")})
    # Acme's default (duckdb) is not in sales' set, and sales declares none of its own.
    assert diagnose(root) == [("FLOE-E302", SALES, 5, 11)]


# -- E303, E304 -----------------------------------------------------------------------------------
def test_a_plugin_that_is_not_installed_is_e303_with_the_pip_hint(write_tree: WriteTree) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb_small, plugin: duckdb}\n",
        "    - {name: lake, plugin: clickhouse, connection: {nonsense: [1]}}\n    - {name: nosuchengine}\n",
    )
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product(
                "orders",
                "[{name: a}, {name: b, compute: duckdb_big}, {name: c, compute: lake},"
                " {name: d, compute: nosuchengine}]",
            ),
        }
    )
    plan = compile_manifests(root)
    # The connection of a target without its plugin is not checked: E303 only, not also E304.
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E303", ENTERPRISE, 8, 28),
        ("FLOE-E303", ENTERPRISE, 9, 14),
    ]
    assert plan.diagnostics[0].hint == "pip install floe-compute-clickhouse"
    assert [c.name for c in plan.targets["dev"]] == ["duckdb", "duckdb_big"]


@pytest.mark.parametrize(
    ("connection", "line", "column"),
    [
        pytest.param("{threads: many}", 6, 60, id="wrong-value"),
        pytest.param("{threads: 0}", 6, 60, id="out-of-range"),
        pytest.param("{thread: 4}", 6, 51, id="unknown-key-at-the-key"),
        pytest.param("{read_only: true}", 6, 50, id="rule-across-fields-at-the-connection"),
    ],
)
def test_a_connection_the_plugin_rejects_is_e304(
    write_tree: WriteTree, diagnose: Diagnose, connection: str, line: int, column: int
) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb, plugin: duckdb}",
        f"    - {{name: duckdb, plugin: duckdb, connection: {connection}}}",
    )
    root = write_tree({ENTERPRISE: enterprise, ORDERS: product("orders", USES_ALL)})
    assert diagnose(root) == [("FLOE-E304", ENTERPRISE, line, column)]


def test_an_override_the_plugin_rejects_is_e304_in_that_environment_only(write_tree: WriteTree) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb, plugin: duckdb}",
        "    - name: duckdb\n      connection: {threads: 2}\n      environments:\n        prod:\n"
        "          connection: {threads: -1}",
    )
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product("orders", USES_ALL),
        }
    )
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E304", ENTERPRISE, 10, 33)
    ]
    assert "in prod" in plan.diagnostics[0].message
    assert "duckdb" in [c.name for c in plan.targets["dev"]]
    assert "duckdb" not in [c.name for c in plan.targets["prod"]]


def test_overrides_merge_into_the_base_key_by_key(write_tree: WriteTree) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb, plugin: duckdb}",
        "    - name: duckdb\n      connection: {memory_limit: 1GB, threads: 2}\n      pool: {size: 2}\n"
        "      environments:\n        prod: {connection: {threads: 8}, pool: {size: 8}}",
    )
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product("orders", USES_ALL),
        }
    )
    plan = compile_manifests(root)
    assert plan.diagnostics == []
    dev, prod = (next(c for c in plan.targets[env] if c.name == "duckdb") for env in ("dev", "prod"))
    assert dev.connection == {"memory_limit": "1GB", "threads": 2}
    assert prod.connection == {"memory_limit": "1GB", "threads": 8}
    assert (dev.pool.size, prod.pool.size) == (2, 8)


# -- relative paths -------------------------------------------------------------------------------
def test_relative_connection_paths_resolve_against_the_declaring_manifest(
    write_tree: WriteTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb, plugin: duckdb}",
        "    - name: duckdb\n      connection: {path: ../data/acme.duckdb, temp_directory: spill}\n"
        "      environments:\n        prod: {connection: {path: prod.duckdb}}",
    ).replace(
        "    - {name: duckdb_small, plugin: duckdb}",
        "    - {name: duckdb_small, plugin: duckdb, connection: {path: 'md:acme'}}",
    )
    enterprise = enterprise.replace(
        "    - {name: duckdb_big, plugin: duckdb}",
        f"    - {{name: duckdb_big, plugin: duckdb, connection: {{path: {tmp_path / 'abs.duckdb'}}}}}",
    )
    root = write_tree(
        {
            ENTERPRISE: None,
            "platform/enterprise.yaml": enterprise,
            SALES: domain("sales").replace("../../enterprise.yaml", "../../platform/enterprise.yaml"),
            ORDERS: product("orders", USES_ALL),
        }
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory plays no part
    for argument in (root, root / ORDERS):
        plan = compile_manifests(argument)
        assert plan.diagnostics == []
        paths = {env: {c.name: c.connection for c in plan.targets[env]} for env in ("dev", "prod")}
        assert paths["dev"]["duckdb"] == {
            "path": str(root / "data" / "acme.duckdb"),
            "temp_directory": str(root / "platform" / "spill"),
        }
        assert paths["prod"]["duckdb"]["path"] == str(root / "platform" / "prod.duckdb")
        assert paths["dev"]["duckdb_big"] == {"path": str(tmp_path / "abs.duckdb")}
        assert paths["dev"]["duckdb_small"] == {"path": "md:acme"}  # a URL-like path is not a file


def test_memory_and_home_paths_are_not_joined_to_the_manifest_folder(write_tree: WriteTree) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb, plugin: duckdb}",
        "    - {name: duckdb, plugin: duckdb, connection: {path: ':memory:'}}",
    ).replace(
        "    - {name: duckdb_big, plugin: duckdb}",
        "    - {name: duckdb_big, plugin: duckdb, connection: {path: ~/acme.duckdb}}",
    )
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product("orders", USES_ALL),
        }
    )
    plan = compile_manifests(root)
    paths = {c.name: c.connection.get("path") for c in plan.targets["dev"]}
    assert paths["duckdb"] == ":memory:"
    assert paths["duckdb_big"] == os.path.expanduser("~/acme.duckdb")


# -- E402 -----------------------------------------------------------------------------------------
def test_unknown_environments_are_e402_wherever_they_are_named(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    enterprise = THREE_TARGETS.replace(
        "    - {name: duckdb_small, plugin: duckdb}",
        "    - {name: duckdb_small, plugin: duckdb, environments: {qa: {connection: {threads: 1}}}}",
    )
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            SALES: domain("sales") + "environments: [dev, uat]\n",
            ORDERS: product("orders", USES_ALL)
            + "environments:\n  production: {transforms: {a: {threads: 4}}}\n",
        }
    )
    assert diagnose(root) == [
        ("FLOE-E402", SALES, 5, 21),
        ("FLOE-E402", ORDERS, 7, 3),
        ("FLOE-E402", ENTERPRISE, 8, 59),
    ]


def test_an_enterprise_declares_its_own_environments(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = THREE_TARGETS.replace("compute:\n", "environments: [dev, prod]\ncompute:\n", 1)
    root = write_tree(
        {
            ENTERPRISE: enterprise,
            ORDERS: product("orders", USES_ALL)
            + "environments:\n  staging: {transforms: {a: {threads: 4}}}\n",
        }
    )
    assert diagnose(root) == [("FLOE-E402", ORDERS, 7, 3)]
    plan = compile_manifests(root)
    assert plan.environments == ["dev", "prod"]
    assert plan.transforms[0].environments == {"dev": "duckdb", "prod": "duckdb"}


def test_an_override_for_an_unknown_transform_is_e101_at_its_key(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree(
        {
            ORDERS: product("orders", "[{name: a}, {name: b, compute: duckdb_big}]")
            + "environments:\n  prod:\n    transforms:\n      c: {threads: 4}\n"
        }
    )
    assert diagnose(root) == [("FLOE-E101", ORDERS, 9, 7)]


# -- W500 -----------------------------------------------------------------------------------------
def test_an_unused_target_is_w500_at_each_level_that_approves_it(write_tree: WriteTree) -> None:
    root = write_tree(
        {
            ENTERPRISE: THREE_TARGETS,
            SALES: domain("sales", "{approved: [duckdb, duckdb_big]}"),
            ORDERS: product("orders", "[{name: a}]", "{approved: [duckdb, duckdb_big]}"),
        }
    )
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-W500", SALES, 5, 30),
        ("FLOE-W500", ORDERS, 5, 30),
        ("FLOE-W500", ENTERPRISE, 7, 14),
        ("FLOE-W500", ENTERPRISE, 8, 14),
    ]
    assert plan.ok  # warnings do not fail validation
    assert {d.severity for d in plan.diagnostics} == {"warning"}
