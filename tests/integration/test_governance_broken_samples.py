"""The deliberately broken trees in sample_manifests/broken: one tree per code, each giving exactly
its one diagnostic at the documented place, with a comment that explains it."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from floe_tui.governance import CATALOGUE, compile_manifests
from floe_tui.governance.diagnostics import excerpt

BROKEN = Path(str(resources.files("floe_tui_samples"))) / "broken"
ORDERS = "domains/sales/products/orders/floe.yaml"
SALES = "domains/sales/manifest.yaml"
ENTERPRISE = "enterprise.yaml"
#: tree -> its one diagnostic: (code, file relative to the tree, line, column)
EXPECTED = {
    "e100-yaml-syntax": ("FLOE-E100", ORDERS, 10, 13),
    "e101-unknown-key": ("FLOE-E101", ORDERS, 9, 24),
    "e102-yaml-tag": ("FLOE-E102", ORDERS, 9, 18),
    "e200-parent-missing": ("FLOE-E200", SALES, 6, 9),
    "e201-cycle": ("FLOE-E201", "domains/finance/manifest.yaml", 6, 9),
    "e202-scope": ("FLOE-E202", "domains/sales/products/customers/floe.yaml", 6, 22),
    "e203-duplicate-transform": ("FLOE-E203", ORDERS, 10, 12),
    "e300-unapproved-compute": ("FLOE-E300", ORDERS, 10, 33),
    "e301-outside-parent": ("FLOE-E301", SALES, 8, 22),
    "e302-default-not-approved": ("FLOE-E302", SALES, 9, 12),
    "e303-plugin-missing": ("FLOE-E303", ENTERPRISE, 12, 15),
    "e304-bad-connection": ("FLOE-E304", ENTERPRISE, 12, 23),
    "e305-literal-secret": ("FLOE-E305", ENTERPRISE, 14, 20),
    "e400-parity": ("FLOE-E400", ORDERS, 15, 9),
    "e401-plugin-override": ("FLOE-E401", ENTERPRISE, 13, 11),
    "e402-unknown-env": ("FLOE-E402", ORDERS, 11, 3),
    "w500-unused": ("FLOE-W500", ENTERPRISE, 11, 13),
}
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_there_is_one_tree_per_code_and_no_untested_tree() -> None:
    assert sorted(code for code, *_ in EXPECTED.values()) == sorted(CATALOGUE)
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir() and not p.name.startswith("_")) == sorted(
        EXPECTED
    )


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_each_tree_gives_exactly_its_one_diagnostic(tree: str) -> None:
    plan = compile_manifests(BROKEN / tree)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [EXPECTED[tree]]
    assert plan.ok is (tree == "w500-unused")  # a warning does not fail validation


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_each_tree_explains_its_fault_where_it_is_reported(tree: str) -> None:
    code, file, line, _ = EXPECTED[tree]
    lines = (BROKEN / tree / file).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(f"# {code} ("), "the faulty file starts by naming its code"
    assert f"# <- {code}" in lines[line - 1], "the reported line is marked"


def test_every_tree_is_a_small_three_level_hierarchy() -> None:
    for tree in EXPECTED:
        files = sorted(str(p.relative_to(BROKEN / tree)) for p in (BROKEN / tree).rglob("*.yaml"))
        assert ENTERPRISE in files and any(f.startswith("domains/") for f in files), tree
        assert len(files) <= 4, tree


def test_the_whole_folder_reports_every_trees_diagnostic_at_once() -> None:
    plan = compile_manifests(BROKEN)
    expected = sorted(
        (code, f"{tree}/{file}", line, column) for tree, (code, file, line, column) in EXPECTED.items()
    )
    assert sorted((d.code, d.file, d.line, d.column) for d in plan.diagnostics) == expected


def test_the_literal_secret_is_never_shown() -> None:
    enterprise = BROKEN / "e305-literal-secret" / ENTERPRISE
    assert SECRET in enterprise.read_text(encoding="utf-8")  # the tree really holds one
    for root in (BROKEN / "e305-literal-secret", enterprise, BROKEN):
        plan = compile_manifests(root)
        for diagnostic in plan.diagnostics:
            assert SECRET not in diagnostic.model_dump_json()
            assert SECRET not in diagnostic.format()
    total = len(enterprise.read_text(encoding="utf-8").splitlines())
    for line in range(1, total + 1):  # whatever line the console jumps to, with any context
        shown = excerpt(enterprise, line, context=total)
        assert shown and all(SECRET not in text and "wJalr" not in text for _, text in shown)
    around = dict(excerpt(enterprise, 14))
    assert re.fullmatch(r"\s+s3_secret: \*\*\*\*", around[14])
    assert around[13].strip() == "s3_key_id: {env: ACME_S3_KEY_ID}"  # a reference is no secret
