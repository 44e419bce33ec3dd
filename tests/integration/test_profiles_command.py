"""`floe-tui profiles`: a profiles.yml that real dbt accepts, one output per environment and compute."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
ENVIRONMENTS = ("dev", "staging", "prod")


def floe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "floe-tui"), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def dbt_debug(project: Path, target: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "HOME": str(project)}
    return subprocess.run(
        [str(BIN / "dbt"), "debug", "--profiles-dir", str(project), "--target", target],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project,
        env=env,
    )


def write_dbt_project(directory: Path) -> None:
    (directory / "dbt_project.yml").write_text(
        "name: orders\nversion: '1.0'\nconfig-version: 2\nprofile: orders\n"
    )


def test_orders_profile_covers_both_computes_in_every_environment(tmp_path: Path) -> None:
    run = floe("profiles", "--product", "orders", "--env", "staging", "-o", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    profile = yaml.safe_load((tmp_path / "profiles.yml").read_text())["orders"]
    assert profile["target"] == "staging_spark"  # the product's default compute
    assert set(profile["outputs"]) == {f"{env}_{c}" for env in ENVIRONMENTS for c in ("duckdb", "spark")}
    assert profile["outputs"]["prod_duckdb"]["threads"] == 4  # the prod override of the enterprise target
    assert profile["outputs"]["dev_spark"]["type"] == "spark"


def test_duckdb_outputs_pass_dbt_debug(tmp_path: Path) -> None:
    assert floe("profiles", "--product", "orders", "-o", str(tmp_path), cwd=tmp_path).returncode == 0
    write_dbt_project(tmp_path)
    for env in ENVIRONMENTS:
        debug = dbt_debug(tmp_path, f"{env}_duckdb")
        assert debug.returncode == 0, debug.stdout[-2000:]
        assert "All checks passed" in debug.stdout


def test_profiles_keeps_other_profiles_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").write_text(
        "other:\n  target: dev\n  outputs: {dev: {type: duckdb, path: x.db}}\n"
    )
    assert floe("profiles", "--product", "campaigns", "-o", str(tmp_path), cwd=tmp_path).returncode == 0
    profiles = yaml.safe_load((tmp_path / "profiles.yml").read_text())
    assert set(profiles) == {"other", "campaigns"}
    assert profiles["campaigns"]["target"] == "dev_duckdb"


def test_unknown_product_is_exit_2_and_names_the_products(tmp_path: Path) -> None:
    run = floe("profiles", "--product", "nosuch", "-o", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 2
    assert "orders" in run.stderr and not (tmp_path / "profiles.yml").exists()


def test_spark_output_passes_dbt_debug(tmp_path: Path) -> None:
    """dbt-spark's `session` method on pyspark 4 (installed without its pyspark<4 extra)."""
    assert floe("profiles", "--product", "orders", "-o", str(tmp_path), cwd=tmp_path).returncode == 0
    write_dbt_project(tmp_path)
    debug = dbt_debug(tmp_path, "dev_spark")
    assert debug.returncode == 0, debug.stdout[-2000:]
    assert "All checks passed" in debug.stdout


def test_an_unset_secret_variable_still_writes_the_profile_and_warns(tmp_path: Path) -> None:
    (tmp_path / "enterprise.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: floe.dev/v1
            kind: Manifest
            metadata: {name: co, scope: enterprise}
            compute:
              approved:
                - name: lake
                  plugin: duckdb
                  credentials:
                    s3_key_id: {env: FLOE_TEST_UNSET_KEY}
                    s3_secret: {env: FLOE_TEST_UNSET_SECRET}
              default: lake
            """
        )
    )
    (tmp_path / "domain.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: d, scope: domain}\n"
        "parent: enterprise.yaml\n"
    )
    (tmp_path / "floe.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: p}\nplatform: {manifest: domain.yaml}\n"
        "transforms:\n  - {name: t}\n"
    )
    out = tmp_path / "out"
    run = floe("profiles", "-m", str(tmp_path), "--product", "p", "-o", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    profile = yaml.safe_load((out / "profiles.yml").read_text())["p"]
    assert profile["outputs"]["dev_lake"]["secrets"][0]["key_id"] == "{{ env_var('FLOE_TEST_UNSET_KEY') }}"
    warnings = run.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(line.startswith("warning: target `lake`") for line in warnings)
    assert "FLOE_TEST_UNSET_KEY is not set" in warnings[0] and "FLOE_TEST_UNSET_SECRET" in warnings[1]
