"""`floe-tui diff BASE HEAD` (issue 15): pairs of trees copied from the acme sample and edited as a
pull request would, run in-process through `cli.main` (two end-to-end runs of the installed script
at the end). Exit 0 when HEAD has no error diagnostic, 1 when it has, 2 when it cannot run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_tui.cli import main
from floe_tui.governance.diff import PlanDiff

FLOE = Path(sys.executable).with_name("floe-tui")
SAMPLES = Path(str(resources.files("floe_tui_samples")))
README = Path(__file__).parents[2] / "README.md"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ORDERS = "domains/sales/products/orders/floe.yaml"
SALES = "domains/sales/manifest.yaml"
TOP_KEYS = {
    "base",
    "head",
    "environments",
    "ok",
    "enterprises",
    "notes",
    "transforms",
    "levels",
    "diagnostics",
}

Run = Callable[..., tuple[int, str, str]]


def copy_acme(root: Path) -> Path:
    """The acme sample with its non-DuckDB targets on the DuckDB plugin: clean without Spark."""
    shutil.copytree(SAMPLES / "acme", root)
    enterprise = root / "enterprise.yaml"
    data = yaml.safe_load(enterprise.read_text(encoding="utf-8"))
    for target in data["compute"]["approved"]:
        if target.get("plugin", target["name"]) != "duckdb":
            target.update(plugin="duckdb", connection={"path": ":memory:"})
    enterprise.write_text(yaml.safe_dump(data), encoding="utf-8")
    return root


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """(BASE, HEAD): two identical copies of the sample; tests edit HEAD (or BASE)."""
    return copy_acme(tmp_path / "base"), copy_acme(tmp_path / "head")


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    for name in [n for n in os.environ if n.startswith("FLOE_")]:
        monkeypatch.delenv(name)

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own exit, after its one line
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def diff_json(run: Run, *args: str | Path, code: int = 0) -> dict[str, Any]:
    result, out, err = run("diff", *args, "--format", "json")
    assert (result, err) == (code, ""), err
    document: dict[str, Any] = json.loads(out)
    return document


def changed(document: dict[str, Any], transform: str) -> dict[str, Any]:
    [found] = [c for c in document["transforms"]["changed"] if c["transform"] == transform]
    return found


def level(document: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in document["levels"] if c["name"] == name]
    return found


# -- no change --------------------------------------------------------------------------------------
def test_identical_trees_have_no_change_and_exit_0(run: Run, pair: tuple[Path, Path]) -> None:
    code, out, err = run("diff", *pair)
    assert (code, err) == (0, "")
    assert "no change to the plan or its diagnostics" in out
    document = diff_json(run, *pair)
    assert document["transforms"] == {"added": [], "removed": [], "changed": []}
    assert document["levels"] == [] and document["notes"] == []
    assert document["diagnostics"] == {"introduced": [], "fixed": []}


# -- a product default changed ----------------------------------------------------------------------
def test_a_product_default_change_moves_its_default_transforms(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, ORDERS, "default: spark}", "default: duckdb}")
    document = diff_json(run, base, head)
    assert [c["transform"] for c in document["transforms"]["changed"]] == ["fct_orders"]
    fct = changed(document, "fct_orders")
    assert fct["path"] == ["enterprise:acme", "domain:sales", "product:orders", "transform:fct_orders"]
    assert fct["changes"] == [
        {
            "environment": "dev",
            "old": {"compute": "spark", "output": "dev_spark", "source": "product-default"},
            "new": {"compute": "duckdb", "output": "dev_duckdb", "source": "product-default"},
        }
    ]
    assert fct["cause"] == {
        "scope": "product",
        "name": "sales/orders",
        "path": ["enterprise:acme", "domain:sales", "product:orders"],
        "file": ORDERS,
        "reason": "product sales/orders changes its default spark -> duckdb",
    }
    assert fct["explanation"].endswith("fct_orders follows the product default (duckdb)")
    orders = level(document, "sales/orders")
    assert orders["default"] == {
        "old": "spark",
        "new": "duckdb",
        "old_declared_by": "product",
        "new_declared_by": "product",
    }
    assert (orders["approved"], orders["inherited"], orders["status"]) == (None, False, "changed")
    # spark is now approved for orders and sales but used by no transform there: warnings, exit 0
    assert [(d["code"], d["file"]) for d in document["diagnostics"]["introduced"]] == [
        ("FLOE-W500", SALES),
        ("FLOE-W500", ORDERS),
    ]
    assert document["ok"] is True


# -- a domain dropping a compute --------------------------------------------------------------------
def test_a_domain_dropping_a_compute_names_the_domain_and_the_fallback(
    run: Run, pair: tuple[Path, Path]
) -> None:
    """The issue's example: the product no longer declares its own default, so it falls back."""
    base, head = pair
    edit(head, SALES, "approved: [duckdb, spark]", "approved: [duckdb]")
    edit(head, ORDERS, "compute: {approved: [duckdb, spark], default: spark}\n", "")
    document = diff_json(run, base, head)
    fct = changed(document, "fct_orders")
    assert fct["changes"][0]["old"]["source"] == "product-default"
    assert fct["changes"][0]["new"] == {
        "compute": "duckdb",
        "output": "dev_duckdb",
        "source": "domain-default",
    }
    assert (fct["cause"]["scope"], fct["cause"]["name"], fct["cause"]["file"]) == ("domain", "sales", SALES)
    assert fct["cause"]["reason"] == "domain sales no longer approves spark"
    assert fct["explanation"].startswith("domain sales no longer approves spark; ")
    assert "fct_orders falls back to the domain default (duckdb)" in fct["explanation"]
    sales = level(document, "sales")
    assert sales["approved"] == {
        "old": ["duckdb", "spark"],
        "new": ["duckdb"],
        "added": [],
        "removed": ["spark"],
    }
    assert sales["inherited"] is False
    # customers declares nothing: its narrower set is inherited from the domain
    assert level(document, "sales/customers")["inherited"] is True
    assert document["ok"] is True


def test_a_domain_dropping_a_compute_a_product_still_uses_is_exit_1(
    run: Run, pair: tuple[Path, Path]
) -> None:
    base, head = pair
    edit(head, SALES, "approved: [duckdb, spark]", "approved: [duckdb]")
    document = diff_json(run, base, head, code=1)
    fct = changed(document, "fct_orders")
    assert fct["changes"][0]["new"] == {"compute": None, "output": None, "source": None}
    assert fct["cause"]["reason"] == "domain sales no longer approves spark"
    assert fct["explanation"].endswith("fct_orders has no compute")
    introduced = {(d["code"], d["file"]) for d in document["diagnostics"]["introduced"]}
    assert introduced == {("FLOE-E301", ORDERS), ("FLOE-E302", ORDERS)}
    assert document["ok"] is False
    code, out, _ = run("diff", base, head)
    assert code == 1
    assert "  + domains/sales/products/orders/floe.yaml:6:" in out and "FLOE-E301 error" in out
    assert out.splitlines()[-1].startswith("failed: 1 changed, 0 added, 0 removed transform(s)")


def test_an_enterprise_change_is_inherited_below_it(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, "enterprise.yaml", "default: duckdb", "default: spark")
    document = diff_json(run, base, head, code=1)
    # sales and finance declare their own defaults; marketing inherits the enterprise's, which it
    # does not approve (it approves only duckdb): its transforms lose their compute
    moved = {c["transform"] for c in document["transforms"]["changed"]}
    assert moved == {"stg_campaign_events", "fct_campaign_performance"}
    assert {c["cause"]["reason"] for c in document["transforms"]["changed"]} == {
        "enterprise acme changes its default duckdb -> spark"
    }
    assert {c["explanation"].split("; ")[-1] for c in document["transforms"]["changed"]} == {
        "stg_campaign_events has no compute",
        "fct_campaign_performance has no compute",
    }
    assert [d["code"] for d in document["diagnostics"]["introduced"]] == ["FLOE-E302"]
    assert [(c["name"], c["inherited"]) for c in document["levels"]] == [
        ("acme", False),
        ("marketing", True),
        ("marketing/campaigns", True),
    ]


# -- a transform renamed ----------------------------------------------------------------------------
def test_a_renamed_transform_is_removed_and_added(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, "domains/sales/products/customers/floe.yaml", "name: dim_customers", "name: dim_customer")
    document = diff_json(run, base, head)
    [added], [removed] = document["transforms"]["added"], document["transforms"]["removed"]
    assert (added["transform"], removed["transform"]) == ("dim_customer", "dim_customers")
    assert added["path"][-1] == "transform:dim_customer" and removed["path"][-1] == "transform:dim_customers"
    assert (added["compute"], added["source"]) == ("duckdb", "domain-default")
    assert document["transforms"]["changed"] == [] and document["levels"] == []
    code, out, _ = run("diff", base, head)
    assert code == 0
    assert re.search(r"^  \+ sales/customers/dim_customer  duckdb \(domain-default\)", out, re.M)
    assert re.search(r"^  - sales/customers/dim_customers  duckdb \(domain-default\)", out, re.M)


# -- a new error introduced and an old one fixed ----------------------------------------------------
def test_an_error_fixed_and_another_introduced(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    campaigns = "domains/marketing/products/campaigns/floe.yaml"
    customers = "domains/sales/products/customers/floe.yaml"
    edit(base, campaigns, "{name: stg_campaign_events}", "{name: stg_campaign_events, compute: spark}")
    edit(head, customers, "{name: stg_customers}", "{name: stg_customers, compute: nosuch}")
    document = diff_json(run, base, head, code=1)
    [introduced], [fixed] = document["diagnostics"]["introduced"], document["diagnostics"]["fixed"]
    assert (introduced["code"], introduced["file"], introduced["line"]) == ("FLOE-E300", customers, 6)
    assert "nosuch" in introduced["message"]
    assert (fixed["code"], fixed["file"], fixed["line"]) == ("FLOE-E300", campaigns, 6)
    assert "spark" in fixed["message"]
    events = changed(document, "stg_campaign_events")
    assert events["changes"][0]["old"]["compute"] is None
    assert events["cause"]["scope"] == "transform"
    assert (
        events["cause"]["reason"]
        == "stg_campaign_events no longer declares a compute its product does not approve"
    )
    customer = changed(document, "stg_customers")
    assert (
        customer["cause"]["reason"]
        == "stg_customers declares a compute its product does not approve (FLOE-E300)"
    )


def test_a_diagnostic_that_only_moved_is_neither_introduced_nor_fixed(
    run: Run, pair: tuple[Path, Path]
) -> None:
    base, head = pair
    for root in pair:
        edit(root, ORDERS, "{name: fct_orders}", "{name: fct_orders, compute: nosuch}")
    edit(head, ORDERS, "# Multi-compute", "# moved down a line\n# Multi-compute")
    document = diff_json(run, base, head, code=1)
    assert document["diagnostics"] == {"introduced": [], "fixed": []}


# -- environments -----------------------------------------------------------------------------------
def test_all_envs_lists_each_environment_and_env_picks_one(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, ORDERS, "default: spark}", "default: duckdb}")
    every = diff_json(run, base, head, "--all-envs")
    assert every["environments"] == ["dev", "staging", "prod"]
    outputs = [c["new"]["output"] for c in changed(every, "fct_orders")["changes"]]
    assert outputs == ["dev_duckdb", "staging_duckdb", "prod_duckdb"]
    prod = diff_json(run, base, head, "--env", "prod")
    assert [c["environment"] for c in changed(prod, "fct_orders")["changes"]] == ["prod"]


def test_an_environment_added_in_head_shows_as_a_change(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, "enterprise.yaml", "- prod\n", "- prod\n- qa\n")
    document = diff_json(run, base, head, "--env", "qa")
    assert len(document["transforms"]["changed"]) == 11
    first = document["transforms"]["changed"][0]["changes"][0]
    assert first["old"] == {"compute": None, "output": None, "source": None}
    assert first["new"]["output"].startswith("qa_")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--env", "nosuch"],
            "error: unknown environment `nosuch` (hint: environments are: dev, staging, prod)",
        ),
        (["--env", "dev", "--all-envs"], "not allowed with argument"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_arguments_are_exit_2_in_one_line(
    run: Run, pair: tuple[Path, Path], args: list[str], words: str
) -> None:
    code, out, err = run("diff", *pair, *args)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["base", "head"])
def test_a_missing_base_or_head_is_exit_2_in_one_line(
    run: Run, pair: tuple[Path, Path], missing: str
) -> None:
    base, head = pair
    gone = base.parent / "nowhere"
    args = (gone, head) if missing == "base" else (base, gone)
    code, out, err = run("diff", *args)
    assert (code, out) == (2, "")
    hint = "pass BASE and HEAD as manifest directories or files"
    assert err == f"error: {gone}: no such file or directory (hint: {hint})\n"


def test_a_head_without_any_floe_manifest_is_exit_2(
    run: Run, pair: tuple[Path, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run("diff", pair[0], empty)
    assert (code, out) == (2, "")
    assert err.startswith("error: no floe manifest under ") and err.count("\n") == 1


def test_different_enterprises_are_said_and_still_diffed(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, "enterprise.yaml", "name: acme", "name: globex")
    edit(head, ORDERS, "default: spark}", "default: duckdb}")
    document = diff_json(run, base, head)
    assert document["enterprises"] == {"base": ["acme"], "head": ["globex"]}
    [note] = document["notes"]
    assert "different enterprises" in note and "acme" in note and "globex" in note
    fct = changed(document, "fct_orders")
    assert fct["path"][0] == "enterprise:globex"
    assert fct["cause"]["name"] == "sales/orders"
    assert document["transforms"]["added"] == [] and document["transforms"]["removed"] == []
    _, out, _ = run("diff", base, head)
    assert out.splitlines()[1].startswith("note: different enterprises")


@pytest.mark.parametrize(
    ("broken", "code"),
    [
        ("transforms:\n  - {name: [\n", "FLOE-E100"),
        ("transforms: !!python/object:os.system x\n", "FLOE-E102"),
    ],
    ids=["syntax", "tag"],
)
def test_a_head_that_does_not_parse_shows_its_error_as_introduced(
    run: Run, pair: tuple[Path, Path], broken: str, code: str
) -> None:
    base, head = pair
    (head / ORDERS).write_text(broken, encoding="utf-8")
    document = diff_json(run, base, head, code=1)
    assert [(d["code"], d["file"]) for d in document["diagnostics"]["introduced"]] == [(code, ORDERS)]
    removed = {t["transform"] for t in document["transforms"]["removed"]}
    assert removed == {"stg_orders", "stg_order_items", "fct_orders"}
    assert level(document, "sales/orders")["status"] == "removed"


def test_a_head_whose_enterprise_does_not_parse_has_no_plan(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    (head / "enterprise.yaml").write_text("compute: [\n", encoding="utf-8")
    document = diff_json(run, base, head, code=1)
    assert any(note.startswith(f"{head} has no enterprise manifest that loads") for note in document["notes"])
    assert len(document["transforms"]["removed"]) == 11
    assert "FLOE-E100" in {d["code"] for d in document["diagnostics"]["introduced"]}


# -- secrets ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["introduced", "fixed"])
def test_a_literal_secret_never_shows_in_a_diff(run: Run, tmp_path: Path, direction: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(SAMPLES / "broken/e305-literal-secret", broken)
    fixed = tmp_path / "fixed"
    shutil.copytree(broken, fixed)
    edit(fixed, "enterprise.yaml", f'"{SECRET}"', "{env: ACME_S3_SECRET}")
    base, head = (fixed, broken) if direction == "introduced" else (broken, fixed)
    for form in ("text", "json"):
        code, out, err = run("diff", base, head, "--format", form)
        assert code == (1 if direction == "introduced" else 0)
        assert SECRET not in out + err
    document = diff_json(run, base, head, code=1 if direction == "introduced" else 0)
    assert [d["code"] for d in document["diagnostics"][direction]] == ["FLOE-E305"]


# -- the JSON shape ---------------------------------------------------------------------------------
def test_json_has_the_documented_shape_and_reads_back(run: Run, pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, ORDERS, "default: spark}", "default: duckdb}")
    edit(head, "domains/sales/products/customers/floe.yaml", "name: dim_customers", "name: dim_customer")
    document = diff_json(run, base, head)
    assert set(document) == TOP_KEYS
    assert (document["base"], document["head"], document["environments"]) == (str(base), str(head), ["dev"])
    assert set(document["transforms"]) == {"added", "removed", "changed"}
    assert set(document["diagnostics"]) == {"introduced", "fixed"}
    ref_keys = {"path", "domain", "product", "transform", "compute", "source", "environments", "file", "line"}
    assert set(document["transforms"]["added"][0]) == ref_keys
    assert set(document["transforms"]["removed"][0]) == ref_keys
    assert set(changed(document, "fct_orders")) == {
        "path", "domain", "product", "transform", "file", "line", "changes", "cause", "explanation"
    }  # fmt: skip
    assert set(document["levels"][0]) == {
        "path",
        "scope",
        "name",
        "status",
        "file",
        "approved",
        "default",
        "inherited",
    }
    assert set(document["diagnostics"]["introduced"][0]) == {
        "code", "severity", "message", "file", "line", "column", "hint"
    }  # fmt: skip
    assert PlanDiff.model_validate(document).model_dump(mode="json") == document


def test_the_readme_shows_the_diff_of_the_sample_as_it_is(
    run: Run, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's example: the sales domain drops Spark and orders drops its own compute line."""
    base, head = pair
    edit(head, SALES, "approved: [duckdb, spark]", "approved: [duckdb]")
    edit(head, ORDERS, "compute: {approved: [duckdb, spark], default: spark}\n", "")
    monkeypatch.chdir(base.parent)
    code, out, _ = run("diff", "base", "head")
    assert code == 0
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ floe-tui diff base head\n(.*?)\$ echo \$\?\n0\n```", text, re.S)
    assert block is not None, "the README's diff example is missing"
    assert block.group(1) == out


# -- end to end -------------------------------------------------------------------------------------
def floe(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOE_")}
    return subprocess.run(
        [str(FLOE), *map(str, args)], capture_output=True, text=True, timeout=60, env=environ
    )


def test_the_installed_command_diffs_and_exits_by_head(pair: tuple[Path, Path]) -> None:
    base, head = pair
    edit(head, SALES, "approved: [duckdb, spark]", "approved: [duckdb]")
    result = floe("diff", base, head)
    assert (result.returncode, result.stderr) == (1, "")
    assert "why: domain sales no longer approves spark; fct_orders has no compute" in result.stdout
    assert "Traceback" not in result.stdout


def test_the_installed_command_says_a_missing_tree_in_one_line(pair: tuple[Path, Path]) -> None:
    result = floe("diff", pair[0], pair[0].parent / "nowhere")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


def test_the_console_refuses_a_missing_diff_base_in_one_line(tmp_path: Path) -> None:
    result = floe("--diff", tmp_path / "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: no such file or directory "
        "(hint: pass --diff the manifests to compare with)"
    ]
