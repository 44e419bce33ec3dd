"""The bundled acme sample through the governance compiler, and a copy of it run end to end:
resolution and provenance as DESIGN section 3 shows them, file arguments, and relative DuckDB
paths opened where the declaring manifest lives."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
import yaml

from floe_tui.compute.discovery import discover_plugins
from floe_tui.governance import Compiler, compile_manifests, default_manifests

ACME = Path(str(resources.files("floe_tui_samples"))) / "acme"
ORDERS = "domains/sales/products/orders/floe.yaml"
SPARK_INSTALLED = "spark" in discover_plugins().plugins


def test_the_sample_resolves_as_the_design_describes() -> None:
    plan = compile_manifests(ACME)
    # The only possible problem is the Spark plugin, which is a separate distribution.
    allowed = set() if SPARK_INSTALLED else {("FLOE-E303", "enterprise.yaml", 25, 15)}
    assert {(d.code, d.file, d.line, d.column) for d in plan.diagnostics} == allowed
    assert plan.ok is SPARK_INSTALLED
    resolved = {(t.domain, t.product, t.transform): (t.compute, t.source) for t in plan.transforms}
    assert resolved == {
        ("sales", "orders", "stg_orders"): ("duckdb", "explicit"),
        ("sales", "orders", "stg_order_items"): ("duckdb", "explicit"),
        ("sales", "orders", "fct_orders"): ("spark", "product-default"),
        ("sales", "customers", "stg_customers"): ("duckdb", "domain-default"),
        ("sales", "customers", "dim_customers"): ("duckdb", "domain-default"),
        ("finance", "ledger", "stg_journal_entries"): ("spark", "domain-default"),
        ("finance", "ledger", "fct_general_ledger"): ("spark", "domain-default"),
        ("finance", "ledger", "reconciliation_checks"): ("duckdb", "explicit"),
        ("finance", "revenue", "revenue_by_nation"): ("duckdb", "product-default"),
        # marketing declares no default: acme's passes through it.
        ("marketing", "campaigns", "stg_campaign_events"): ("duckdb", "enterprise-default"),
        ("marketing", "campaigns", "fct_campaign_performance"): ("duckdb", "enterprise-default"),
    }
    assert plan.environments == ["dev", "staging", "prod"]
    assert plan.query_timeout_s == 60


def test_the_sample_targets_merge_their_prod_overrides() -> None:
    plan = compile_manifests(ACME)
    duckdb = {env: next(c for c in plan.targets[env] if c.name == "duckdb") for env in plan.environments}
    assert duckdb["dev"].connection["memory_limit"] == "1GB"
    assert duckdb["staging"].connection["threads"] == 2
    assert (duckdb["prod"].connection["memory_limit"], duckdb["prod"].connection["threads"]) == ("4GB", 4)
    assert duckdb["prod"].connection["extensions"] == ["tpch"]  # untouched keys stay


def test_the_default_manifests_are_the_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOE_MANIFESTS", raising=False)
    assert default_manifests().resolve() == ACME.resolve()
    monkeypatch.setenv("FLOE_MANIFESTS", str(tmp_path))
    assert default_manifests() == tmp_path


def test_a_product_file_loads_with_its_ancestors_only() -> None:
    plan = compile_manifests(ACME / ORDERS)
    assert [d.code for d in plan.diagnostics] == ([] if SPARK_INSTALLED else ["FLOE-E303"])
    assert {d.file for d in plan.diagnostics} <= {"../../../../enterprise.yaml"}
    assert [t.transform for t in plan.transforms] == ["stg_orders", "stg_order_items", "fct_orders"]
    assert plan.floe_files == 3


@pytest.fixture
def acme_copy(tmp_path: Path) -> Path:
    """The sample with every target on the DuckDB plugin and file databases relative to the
    enterprise manifest, so that it runs without Spark and without generating TPC-H data."""
    root = tmp_path / "acme"
    shutil.copytree(ACME, root)
    enterprise = root / "enterprise.yaml"
    data = yaml.safe_load(enterprise.read_text(encoding="utf-8"))
    for target in data["compute"]["approved"]:
        target.update(plugin="duckdb", connection={"path": f"warehouse/{target['name']}.duckdb"})
        target.pop("environments", None)
    enterprise.write_text(yaml.safe_dump(data), encoding="utf-8")
    (root / "warehouse").mkdir()
    return root


def test_a_relative_database_path_opens_beside_the_enterprise_manifest(
    acme_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = compile_manifests(acme_copy / ORDERS)
    assert plan.diagnostics == []
    orders = plan.product("orders")
    assert orders is not None
    registry = plan.registry("dev", orders)
    try:
        plugin = registry.get("spark")  # the target named spark, on the duckdb plugin here
        plugin.connect()
        handle = plugin.execute("select 42 as answer", timeout=30, limit=None)
        assert handle.fetch_all().to_pylist() == [{"answer": 42}]
    finally:
        registry.close()
    assert (acme_copy / "warehouse" / "spark.duckdb").is_file()
    assert not list(elsewhere.iterdir())


def test_a_recheck_sees_an_edit_and_its_fix(acme_copy: Path) -> None:
    compiler = Compiler()
    assert compiler.compile(acme_copy).diagnostics == []
    product = acme_copy / ORDERS
    original = product.read_text(encoding="utf-8")
    moved = original.replace("fct_orders: {threads: 8}", "fct_orders: {threads: 8, compute: duckdb}")
    assert moved != original
    product.write_text(moved)
    assert [(d.code, d.file, d.line) for d in compiler.compile(acme_copy).diagnostics] == [
        ("FLOE-E400", ORDERS, 14)
    ]
    product.write_text(original)
    assert compiler.compile(acme_copy).diagnostics == []
