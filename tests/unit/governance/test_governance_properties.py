"""Property tests: random enterprise -> domain -> product hierarchies (every target on the duckdb
plugin), written to real files and compiled.

A clean tree resolves every transform to a compute of its product's effective approved set, with
the provenance of the level that declared it; one unapproved compute added anywhere gives exactly
one new diagnostic (E300 / E301) at its place, and nothing else new.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from floe_tui.governance import Plan, compile_manifests

TARGETS = ["duckdb", "duckdb_big", "duckdb_small", "lake", "warehouse"]
OUTSIDERS = ["snowflake", "nosuch_engine"]
SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@dataclass
class Node:
    """One level as generated: its own compute section, and what it resolves to (the model)."""

    name: str
    approved: list[str] | None
    default: str | None
    effective: list[str]
    effective_default: str
    declared_by: str
    transforms: list[str | None] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


@st.composite
def narrowed(draw: st.DrawFn, name: str, parent: Node, scope: str) -> Node:
    approved = draw(st.none() | st.lists(st.sampled_from(parent.effective), min_size=1, unique=True))
    effective = approved if approved is not None else parent.effective
    default = draw(st.none() | st.sampled_from(effective))
    if default is None and parent.effective_default not in effective:
        default = draw(st.sampled_from(effective))  # else the tree would not be clean (E302)
    if default is None:
        return Node(name, approved, None, effective, parent.effective_default, parent.declared_by)
    return Node(name, approved, default, effective, default, scope)


@st.composite
def hierarchies(draw: st.DrawFn) -> Node:
    approved = draw(st.lists(st.sampled_from(TARGETS), min_size=1, unique=True))
    enterprise = Node("acme", approved, None, approved, draw(st.sampled_from(approved)), "enterprise")
    for d in range(draw(st.integers(1, 3))):
        domain = draw(narrowed(f"d{d}", enterprise, "domain"))
        for p in range(draw(st.integers(1, 2))):
            product = draw(narrowed(f"p{p}", domain, "product"))
            product.transforms = draw(
                st.lists(st.none() | st.sampled_from(product.effective), min_size=1, max_size=4)
            )
            domain.children.append(product)
        enterprise.children.append(domain)
    return enterprise


# -- writing a hierarchy -------------------------------------------------------------------------
def compute_lines(node: Node) -> list[str]:
    lines = []
    if node.approved is not None:
        lines.append(f"  approved: [{', '.join(node.approved)}]")
    if node.default is not None:
        lines.append(f"  default: {node.default}")
    return ["compute:", *lines] if lines else []


def domain_file(domain: Node) -> str:
    return f"domains/{domain.name}/manifest.yaml"


def product_file(domain: Node, product: Node) -> str:
    return f"domains/{domain.name}/products/{product.name}/floe.yaml"


def transform_line(index: int, compute: str | None) -> str:
    return f"  - {{name: t{index}" + (f", compute: {compute}}}" if compute else "}")


def write(root: Path, enterprise: Node) -> None:
    files = {
        "enterprise.yaml": [
            "apiVersion: floe.dev/v1",
            "kind: Manifest",
            "metadata: {name: acme, scope: enterprise}",
            "compute:",
            "  approved:",
            *(f"    - {{name: {name}, plugin: duckdb}}" for name in enterprise.effective),
            f"  default: {enterprise.effective_default}",
        ]
    }
    for domain in enterprise.children:
        files[domain_file(domain)] = [
            "apiVersion: floe.dev/v1",
            "kind: Manifest",
            f"metadata: {{name: {domain.name}, scope: domain}}",
            "parent: ../../enterprise.yaml",
            *compute_lines(domain),
        ]
        for product in domain.children:
            files[product_file(domain, product)] = [
                "apiVersion: floe.dev/v1",
                "kind: FloeSpec",
                f"metadata: {{name: {product.name}}}",
                "platform: {manifest: ../../manifest.yaml}",
                *compute_lines(product),
                "transforms:",
                *(transform_line(i, compute) for i, compute in enumerate(product.transforms)),
            ]
    for relative, lines in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compiled(enterprise: Node) -> Plan:
    with tempfile.TemporaryDirectory() as folder:
        write(Path(folder), enterprise)
        return compile_manifests(Path(folder))


def located(plan: Plan) -> set[tuple[str, str, int, int]]:
    return {(d.code, d.file, d.line, d.column) for d in plan.diagnostics}


# -- properties ----------------------------------------------------------------------------------
@SETTINGS
@given(hierarchies())
def test_a_clean_tree_resolves_every_transform_within_its_product(enterprise: Node) -> None:
    plan = compiled(enterprise)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    assert {d.code for d in plan.diagnostics} <= {"FLOE-W500"}
    levels = {level.qualified_name: level for level in plan.levels("product")}
    resolved = {(t.domain, t.product, t.transform): t for t in plan.transforms}
    assert len(resolved) == sum(len(p.transforms) for d in enterprise.children for p in d.children)
    for domain in enterprise.children:
        for product in domain.children:
            level = levels[f"{domain.name}/{product.name}"]
            assert set(level.approved) == set(product.effective)
            assert level.default == product.effective_default
            for index, explicit in enumerate(product.transforms):
                plan_entry = resolved[(domain.name, product.name, f"t{index}")]
                assert plan_entry.compute in level.approved
                if explicit is not None:
                    assert (plan_entry.compute, plan_entry.source) == (explicit, "explicit")
                else:
                    expected = (product.effective_default, f"{product.declared_by}-default")
                    assert (plan_entry.compute, plan_entry.source) == expected
                assert set(plan_entry.environments.values()) == {plan_entry.compute}


@SETTINGS
@given(hierarchies(), st.data())
def test_one_unapproved_compute_gives_exactly_one_new_diagnostic(
    enterprise: Node, data: st.DataObject
) -> None:
    before = compiled(enterprise)
    assert before.ok
    domains = enterprise.children
    choices = ["transform"]
    choices += ["domain"] if any(d.approved is not None for d in domains) else []
    choices += ["product"] if any(p.approved is not None for d in domains for p in d.children) else []
    where = data.draw(st.sampled_from(choices), label="where")
    event(f"unapproved compute in a {where}")
    if where == "transform":
        domain = data.draw(st.sampled_from(domains), label="domain")
        product = data.draw(st.sampled_from(domain.children), label="product")
        index = data.draw(st.integers(0, len(product.transforms) - 1), label="transform")
        outside = [t for t in TARGETS + OUTSIDERS if t not in product.effective]
        product.transforms[index] = bad = data.draw(st.sampled_from(outside), label="compute")
        line = 5 + len(compute_lines(product)) + 1 + index
        column = len(f"  - {{name: t{index}, compute: ") + 1
        expected = ("FLOE-E300", product_file(domain, product), line, column)
    elif where == "domain":
        domain = data.draw(st.sampled_from([d for d in domains if d.approved is not None]), label="domain")
        assert domain.approved is not None
        outside = [t for t in TARGETS + OUTSIDERS if t not in enterprise.effective]
        bad = data.draw(st.sampled_from(outside), label="compute")
        column = len(f"  approved: [{', '.join(domain.approved)}, ") + 1
        domain.approved = [*domain.approved, bad]
        expected = ("FLOE-E301", domain_file(domain), 6, column)
    else:
        domain = data.draw(
            st.sampled_from([d for d in domains if any(p.approved is not None for p in d.children)]),
            label="domain",
        )
        product = data.draw(
            st.sampled_from([p for p in domain.children if p.approved is not None]), label="product"
        )
        assert product.approved is not None
        outside = [t for t in TARGETS + OUTSIDERS if t not in domain.effective]
        bad = data.draw(st.sampled_from(outside), label="compute")
        column = len(f"  approved: [{', '.join(product.approved)}, ") + 1
        product.approved = [*product.approved, bad]
        expected = ("FLOE-E301", product_file(domain, product), 6, column)
    after = compiled(enterprise)
    assert located(after) - located(before) == {expected}, [d.format() for d in after.diagnostics]
    assert [(d.code, d.file, d.line, d.column) for d in after.diagnostics if d.is_error] == [expected]
    assert f"`{bad}`" in next(d.message for d in after.diagnostics if d.is_error)
