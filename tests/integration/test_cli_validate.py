"""`floe-tui validate` as installed, run as a user runs it: stdout, one-line stderr, exit codes
(DESIGN section 4: 0 clean, warnings allowed; 1 errors; 2 the command could not run)."""

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
BROKEN = SAMPLES / "broken"
SPARK_INSTALLED = "spark" in discover_plugins().plugins
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: tree -> the one line validate prints for it (its diagnostic, without message and hint)
BROKEN_TREES = {
    "e100-yaml-syntax": "domains/sales/products/orders/floe.yaml:10:13: FLOE-E100 error",
    "e101-unknown-key": "domains/sales/products/orders/floe.yaml:9:24: FLOE-E101 error",
    "e102-yaml-tag": "domains/sales/products/orders/floe.yaml:9:18: FLOE-E102 error",
    "e200-parent-missing": "domains/sales/manifest.yaml:6:9: FLOE-E200 error",
    "e201-cycle": "domains/finance/manifest.yaml:6:9: FLOE-E201 error",
    "e202-scope": "domains/sales/products/customers/floe.yaml:6:22: FLOE-E202 error",
    "e203-duplicate-transform": "domains/sales/products/orders/floe.yaml:10:12: FLOE-E203 error",
    "e300-unapproved-compute": "domains/sales/products/orders/floe.yaml:10:33: FLOE-E300 error",
    "e301-outside-parent": "domains/sales/manifest.yaml:8:22: FLOE-E301 error",
    "e302-default-not-approved": "domains/sales/manifest.yaml:9:12: FLOE-E302 error",
    "e303-plugin-missing": "enterprise.yaml:12:15: FLOE-E303 error",
    "e304-bad-connection": "enterprise.yaml:12:23: FLOE-E304 error",
    "e305-literal-secret": "enterprise.yaml:14:20: FLOE-E305 error",
    "e400-parity": "domains/sales/products/orders/floe.yaml:15:9: FLOE-E400 error",
    "e401-plugin-override": "enterprise.yaml:13:11: FLOE-E401 error",
    "e402-unknown-env": "domains/sales/products/orders/floe.yaml:11:3: FLOE-E402 error",
    "w500-unused": "enterprise.yaml:11:13: FLOE-W500 warning",
}


def floe(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with a clean FLOE_* environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOE_")}
    return subprocess.run(
        [str(FLOE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
        cwd=cwd,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


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


# -- exit 0 -----------------------------------------------------------------------------------------
def test_the_bundled_sample_is_the_default_and_validates(tmp_path: Path) -> None:
    result = floe("validate", cwd=tmp_path)
    assert result.stderr == ""
    if SPARK_INSTALLED:
        assert result.returncode == 0
        assert result.stdout == "ok: 0 error(s), 0 warning(s) in 9 file(s)\n"
    else:  # the Spark plugin is a separate distribution
        assert result.returncode == 1
        assert result.stdout.startswith("enterprise.yaml:25:15: FLOE-E303 error: plugin `spark`")
        assert result.stdout.endswith("failed: 1 error(s), 0 warning(s) in 9 file(s)\n")


def test_a_clean_tree_exits_0(acme: Path) -> None:
    result = floe("validate", acme)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "ok: 0 error(s), 0 warning(s) in 9 file(s)\n",
        "",
    )


def test_the_manifests_come_from_the_option_or_the_environment(acme: Path) -> None:
    assert floe("validate", "-m", acme).returncode == 0
    assert floe("validate", env={"FLOE_MANIFESTS": str(acme)}).stdout.endswith("in 9 file(s)\n")


def test_a_known_environment_is_accepted(acme: Path) -> None:
    assert floe("validate", acme, "--env", "prod").returncode == 0
    assert floe("validate", acme, env={"FLOE_ENV": "staging"}).returncode == 0


def test_a_product_file_validates_with_its_ancestors(acme: Path) -> None:
    result = floe("validate", acme / "domains/sales/products/orders/floe.yaml")
    assert (result.returncode, result.stdout) == (0, "ok: 0 error(s), 0 warning(s) in 3 file(s)\n")


# -- the broken samples -----------------------------------------------------------------------------
@pytest.mark.parametrize("tree", sorted(BROKEN_TREES))
def test_each_broken_tree_prints_its_one_diagnostic(tree: str) -> None:
    result = floe("validate", BROKEN / tree)
    lines = result.stdout.splitlines()
    assert result.stderr == ""
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith(BROKEN_TREES[tree] + ": ")
    assert "(hint: " in lines[0]
    if tree == "w500-unused":
        assert result.returncode == 0
        assert lines[1].startswith("ok: 0 error(s), 1 warning(s)")
    else:
        assert result.returncode == 1
        assert lines[1].startswith("failed: 1 error(s), 0 warning(s)")
    assert SECRET not in result.stdout


def test_the_literal_secret_is_not_in_the_json_either() -> None:
    result = floe("validate", BROKEN / "e305-literal-secret", "--format", "json")
    assert result.returncode == 1
    assert SECRET not in result.stdout
    assert [d["code"] for d in json.loads(result.stdout)["diagnostics"]] == ["FLOE-E305"]


def test_a_directory_of_unparsable_files_is_exit_1(tmp_path: Path) -> None:
    (tmp_path / "floe.yaml").write_text("transforms: [\n")
    result = floe("validate", tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("floe.yaml:2:1: FLOE-E100 error: ")


# -- exit 2 -----------------------------------------------------------------------------------------
def test_a_missing_path_is_exit_2(tmp_path: Path) -> None:
    result = floe("validate", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "no such file or directory" in one_line_error(result)


@pytest.mark.parametrize(
    "files",
    [{}, {"README.md": "# docs\n", "dbt_project.yml": "name: acme\n", ".github/ci.yaml": "on: push\n"}],
    ids=["empty", "other-tools-only"],
)
def test_a_directory_without_any_floe_manifest_is_exit_2(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = floe("validate", tmp_path)
    assert result.returncode == 2
    assert "no floe manifest" in one_line_error(result)


def test_an_unknown_environment_is_exit_2(acme: Path) -> None:
    result = floe("validate", acme, "--env", "nosuch")
    assert result.returncode == 2
    assert one_line_error(result) == (
        "error: unknown environment `nosuch` (hint: environments are: dev, staging, prod)\n"
    )
    assert floe("validate", acme, env={"FLOE_ENV": "nosuch"}).returncode == 2


def test_a_bad_argument_is_exit_2_in_one_line(acme: Path) -> None:
    result = floe("validate", acme, "--format", "xml")
    assert result.returncode == 2
    assert "--format" in one_line_error(result)


# -- JSON -------------------------------------------------------------------------------------------
def test_json_has_the_documented_shape(acme: Path) -> None:
    result = floe("validate", acme, "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert set(document) == {"ok", "diagnostics", "transforms"}
    assert document["ok"] is True and document["diagnostics"] == []
    assert len(document["transforms"]) == 11
    for transform in document["transforms"]:
        assert set(transform) == {"domain", "product", "transform", "compute", "source", "environments"}
        assert set(transform["environments"]) == {"dev", "staging", "prod"}
        assert set(transform["environments"].values()) == {transform["compute"]}
    assert {
        "domain": "marketing",
        "product": "campaigns",
        "transform": "fct_campaign_performance",
        "compute": "duckdb",
        "source": "enterprise-default",
        "environments": {"dev": "duckdb", "staging": "duckdb", "prod": "duckdb"},
    } in document["transforms"]


def test_a_report_larger_than_the_pipe_arrives_whole(acme: Path) -> None:
    """The script ends without the interpreter's teardown (`cli.run`): what it wrote is flushed
    first, also past the 64 KiB a pipe holds, and the exit code is the command's."""
    product = acme / "domains" / "sales" / "products" / "wide" / "floe.yaml"
    product.parent.mkdir(parents=True)
    lines = [f"  - {{name: t_{index}}}" for index in range(3000)]
    product.write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: wide}\n"
        "platform: {manifest: ../../manifest.yaml}\ntransforms:\n" + "\n".join(lines) + "\n"
    )
    result = floe("validate", acme, "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    assert len(result.stdout) > 10 * 65536
    assert len(json.loads(result.stdout)["transforms"]) == 11 + 3000
    product.write_text(product.read_text().replace("t_2999", "t_0"))  # defined twice: exit 1
    assert floe("validate", acme, "--format", "json").returncode == 1


def test_json_diagnostics_carry_code_severity_place_and_hint() -> None:
    result = floe("validate", BROKEN / "e300-unapproved-compute", "--format", "json")
    assert (result.returncode, result.stderr) == (1, "")
    document = json.loads(result.stdout)
    assert document["ok"] is False
    [diagnostic] = document["diagnostics"]
    assert set(diagnostic) == {"code", "severity", "message", "file", "line", "column", "hint"}
    assert {k: diagnostic[k] for k in ("code", "severity", "file", "line", "column")} == {
        "code": "FLOE-E300",
        "severity": "error",
        "file": "domains/sales/products/orders/floe.yaml",
        "line": 10,
        "column": 33,
    }
    assert "duckdb_big" in diagnostic["message"] and diagnostic["hint"] == "choose one of: duckdb"
    unresolved = next(t for t in document["transforms"] if t["transform"] == "fct_orders")
    assert (unresolved["compute"], unresolved["source"]) == (None, None)


def test_json_with_only_warnings_is_ok() -> None:
    result = floe("validate", BROKEN / "w500-unused", "--format", "json")
    document = json.loads(result.stdout)
    assert (result.returncode, document["ok"]) == (0, True)
    assert [(d["code"], d["severity"]) for d in document["diagnostics"]] == [("FLOE-W500", "warning")]
