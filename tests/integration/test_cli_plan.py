"""`floe-tui plan` as installed: every transform's compute per environment, with provenance and
the dbt output it runs on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from floe_tui.compute.discovery import discover_plugins

FLOE = Path(sys.executable).with_name("floe-tui")
SAMPLES = Path(str(resources.files("floe_tui_samples")))
SPARK_INSTALLED = "spark" in discover_plugins().plugins
ORDERS_ROWS = [
    ("stg_orders", "duckdb", "explicit", 8),
    ("stg_order_items", "duckdb", "explicit", 9),
    ("fct_orders", "spark", "product-default", 10),
]


def floe(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOE_")}
    return subprocess.run(
        [str(FLOE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    """A copy of the sample whose non-DuckDB targets run on the DuckDB plugin: clean without Spark."""
    root = tmp_path / "acme"
    shutil.copytree(SAMPLES / "acme", root)
    enterprise = root / "enterprise.yaml"
    data = yaml.safe_load(enterprise.read_text(encoding="utf-8"))
    for target in data["compute"]["approved"]:
        if target.get("plugin", target["name"]) != "duckdb":
            target.update(plugin="duckdb", connection={"path": ":memory:"})
    enterprise.write_text(yaml.safe_dump(data), encoding="utf-8")
    return root


def test_plan_of_one_product_as_json(acme: Path) -> None:
    result = floe("plan", "-m", acme, "--product", "orders", "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert (document["ok"], document["environment"]) == (True, "dev")
    rows = document["transforms"]
    assert [(r["transform"], r["compute"], r["source"], r["line"]) for r in rows] == ORDERS_ROWS
    for row in rows:
        assert (row["domain"], row["product"]) == ("sales", "orders")
        assert row["file"] == "domains/sales/products/orders/floe.yaml"
        assert row["environments"] == dict.fromkeys(["dev", "staging", "prod"], row["compute"])
        assert row["output"] == f"dev_{row['compute']}"


def test_plan_of_the_bundled_sample(tmp_path: Path) -> None:
    result = floe("plan", "--product", "orders", "--format", "json")
    document = json.loads(result.stdout)
    assert result.returncode == (0 if SPARK_INSTALLED else 1)
    assert document["ok"] is SPARK_INSTALLED
    assert [
        (r["transform"], r["compute"], r["source"], r["line"]) for r in document["transforms"]
    ] == ORDERS_ROWS


def test_plan_outputs_follow_the_environment(acme: Path) -> None:
    for args, env, expected in [
        (["--env", "prod"], None, "prod"),
        ([], {"FLOE_ENV": "staging"}, "staging"),
    ]:
        result = floe("plan", "-m", acme, "--product", "sales/orders", "--format", "json", *args, env=env)
        document = json.loads(result.stdout)
        assert document["environment"] == expected
        assert [r["output"] for r in document["transforms"]] == [
            f"{expected}_duckdb",
            f"{expected}_duckdb",
            f"{expected}_spark",
        ]


def test_plan_of_every_product_as_text(acme: Path) -> None:
    result = floe("plan", "-m", acme)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == "plan for dev"
    assert lines[1].split() == ["domain", "product", "transform", "compute", "source", "dbt", "output"]
    assert len({line.split()[2] for line in lines[3:]}) == len(lines[3:]) == 11  # each transform once
    row = next(line for line in lines if "fct_orders" in line)
    assert row.split() == ["sales", "orders", "fct_orders", "spark", "product-default", "dev_spark"]


def test_plan_of_an_unknown_product_is_exit_2_in_one_line(acme: Path) -> None:
    result = floe("plan", "-m", acme, "--product", "nosuch")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: no single product named `nosuch` (hint: products: "
        "finance/ledger, finance/revenue, marketing/campaigns, sales/customers, sales/orders)\n"
    )


def test_plan_with_errors_is_exit_1_and_shows_the_unresolved_transform() -> None:
    result = floe("plan", "-m", SAMPLES / "broken" / "e300-unapproved-compute", "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    fct = next(r for r in document["transforms"] if r["transform"] == "fct_orders")
    assert (fct["compute"], fct["source"], fct["output"]) == (None, None, None)
