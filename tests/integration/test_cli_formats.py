"""`validate --format github|sarif|junit` (issue 15): what CI tools read. The github lines are parsed
back, the SARIF log is checked against the SARIF 2.1.0 schema (tests/data/sarif-2.1.0.json, see
tests/data/README.md), the JUnit XML is parsed. In-process through `cli.main`, but for one end-to-end
run of the installed script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from floe_tui import __version__
from floe_tui.cli import main
from floe_tui.governance import CATALOGUE
from floe_tui.reports import escape_data, escape_property

FLOE = Path(sys.executable).with_name("floe-tui")
SAMPLES = Path(str(resources.files("floe_tui_samples")))
BROKEN = SAMPLES / "broken"
SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FORMATS = ("text", "json", "github", "sarif", "junit")
#: `::error file=F,line=L,col=C,title=CODE::message`, as GitHub reads it
COMMAND = re.compile(r"^::(?P<kind>error|warning) (?P<properties>[^:]*)::(?P<message>.*)$")

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    for name in [n for n in os.environ if n.startswith("FLOE_")]:
        monkeypatch.delenv(name)

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def copy_tree(name: str, where: Path) -> Path:
    """A broken sample copied out of the checkout (so no git repository holds it)."""
    shutil.copytree(BROKEN / name, where)
    return where


def make_repository(root: Path) -> None:
    """A git work tree at `root`: `git init` where git is installed, else the marker it makes."""
    root.mkdir(parents=True, exist_ok=True)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    else:
        (root / ".git").mkdir()
        (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")


def unescape(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def parse_command(line: str) -> dict[str, str]:
    """A workflow command read back the way the runner reads it: properties split on `,` and `=`."""
    match = COMMAND.match(line)
    assert match, line
    properties = dict(item.split("=", 1) for item in match["properties"].split(","))
    return {
        "kind": match["kind"],
        **{key: unescape(value) for key, value in properties.items()},
        "message": unescape(match["message"]),
    }


def validate_json(run: Run, path: Path) -> dict[str, Any]:
    _, out, _ = run("validate", path, "--format", "json")
    document: dict[str, Any] = json.loads(out)
    return document


# -- github -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tree", ["e100-yaml-syntax", "e201-cycle", "e300-unapproved-compute", "w500-unused"])
def test_github_lines_parse_back_to_the_diagnostics(run: Run, tmp_path: Path, tree: str) -> None:
    root = copy_tree(tree, tmp_path / tree)
    code, out, err = run("validate", root, "--format", "github")
    expected = validate_json(run, root)["diagnostics"]
    assert err == "" and out.endswith("\n")
    assert code == (0 if tree == "w500-unused" else 1)
    commands = [parse_command(line) for line in out.splitlines()]
    assert commands == [
        {
            "kind": d["severity"],
            "file": d["file"],  # no repository here: relative to the argument, as in text
            "line": str(d["line"]),
            "col": str(d["column"]),
            "title": d["code"],
            "message": f"{d['message']} (hint: {d['hint']})",
        }
        for d in expected
    ]


def test_github_paths_are_relative_to_the_repository(run: Run, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    make_repository(repository)
    root = copy_tree("e300-unapproved-compute", repository / "governance" / "manifests")
    _, out, _ = run("validate", root, "--format", "github")
    [command] = [parse_command(line) for line in out.splitlines()]
    assert command["file"] == "governance/manifests/domains/sales/products/orders/floe.yaml"
    # a product file given alone names its ancestors from the repository root too
    _, out, _ = run("validate", root / "domains/sales/products/orders/floe.yaml", "--format", "github")
    assert parse_command(out.splitlines()[0])["file"] == command["file"]


def test_github_escapes_percent_newlines_and_property_delimiters(run: Run, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    make_repository(repository)
    root = copy_tree("e101-unknown-key", repository / "a,b:100%")
    product = root / "domains/sales/products/orders/floe.yaml"
    product.write_text(product.read_text().replace("metadata:", '"50%,\\r\\nx: y": 1\nmetadata:', 1))
    _, out, _ = run("validate", root, "--format", "github")
    lines = out.splitlines()
    assert all(COMMAND.match(line) for line in lines) and "\r" not in out
    commands = [parse_command(line) for line in lines]
    assert {c["file"] for c in commands} == {"a,b:100%/domains/sales/products/orders/floe.yaml"}
    assert "a%2Cb%3A100%25/domains" in out
    assert any("50%,\r\nx: y" in c["message"] for c in commands), commands


def test_the_escaping_functions_follow_github() -> None:
    assert escape_data("100% a:b,c\r\nd") == "100%25 a:b,c%0D%0Ad"
    assert escape_property("100% a:b,c\r\nd") == "100%25 a%3Ab%2Cc%0D%0Ad"


def test_a_clean_tree_prints_no_command_and_exits_0(run: Run, tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "acme", tmp_path / "acme")
    code, out, err = run("validate", tmp_path / "acme", "--format", "github")
    expected = validate_json(run, tmp_path / "acme")["diagnostics"]  # E303 where Spark is not installed
    assert (code, err) == (1 if expected else 0, "")
    assert len(out.splitlines()) == len(expected)


# -- SARIF ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tree",
    ["e100-yaml-syntax", "e201-cycle", "e300-unapproved-compute", "e305-literal-secret", "w500-unused"],
)
def test_sarif_is_valid_sarif_2_1_0(run: Run, tmp_path: Path, tree: str) -> None:
    root = copy_tree(tree, tmp_path / tree)
    code, out, err = run("validate", root, "--format", "sarif")
    assert err == "" and code == (0 if tree == "w500-unused" else 1)
    log = json.loads(out)
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    [sarif_run] = log["runs"]
    expected = validate_json(run, root)["diagnostics"]
    assert [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["locations"][0]["physicalLocation"]["region"]["startColumn"],
            r["message"]["text"],
        )
        for r in sarif_run["results"]
    ] == [
        (d["code"], d["severity"], d["file"], d["line"], d["column"], f"{d['message']} (hint: {d['hint']})")
        for d in expected
    ]


def test_sarif_names_the_tool_and_one_rule_per_code(run: Run) -> None:
    _, out, _ = run("validate", BROKEN / "e300-unapproved-compute", "--format", "sarif")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("floe-tui", __version__)
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(CATALOGUE)
    for rule in rules:
        severity, meaning = CATALOGUE[rule["id"]]
        assert rule["shortDescription"]["text"] == meaning
        assert rule["defaultConfiguration"]["level"] == severity.value
    [result] = log["runs"][0]["results"]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "FLOE-E300"
    base = log["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert base.startswith("file:///") and base.endswith("/")


def test_sarif_uris_are_escaped_and_from_the_repository(run: Run, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    make_repository(repository)
    root = copy_tree("e300-unapproved-compute", repository / "my manifests")
    _, out, _ = run("validate", root, "--format", "sarif")
    log = json.loads(out)
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    [result] = log["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20manifests/domains/sales/products/orders/floe.yaml"
    assert log["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"] == repository.as_uri() + "/"


def test_the_schema_rejects_a_broken_log() -> None:
    """The schema file is the real one: it does check (a SARIF log without runs is invalid)."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.1.0"}, SCHEMA, cls=jsonschema.Draft4Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {
                "version": "2.1.0",
                "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal"}]}],
            },
            SCHEMA,
            cls=jsonschema.Draft4Validator,
        )


# -- JUnit ------------------------------------------------------------------------------------------
def test_junit_has_one_case_per_file_and_fails_those_with_errors(run: Run, tmp_path: Path) -> None:
    root = copy_tree("e300-unapproved-compute", tmp_path / "tree")
    (root / "domains/sales/manifest.yaml").write_text(
        (root / "domains/sales/manifest.yaml").read_text() + "environments: [qa]\n"
    )  # a second error (E402) in another file
    code, out, err = run("validate", root, "--format", "junit")
    assert (code, err) == (1, "")
    suites = ET.fromstring(out)
    [suite] = suites.findall("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert sorted(cases) == [
        "domains/sales/manifest.yaml",
        "domains/sales/products/orders/floe.yaml",
        "enterprise.yaml",
    ]
    assert (suite.get("tests"), suite.get("failures"), suites.get("failures")) == ("3", "2", "2")
    assert cases["enterprise.yaml"].find("failure") is None
    failure = cases["domains/sales/products/orders/floe.yaml"].find("failure")
    assert failure is not None and failure.get("type") == "FLOE-E300"
    assert failure.text is not None
    assert failure.text.startswith("domains/sales/products/orders/floe.yaml:10:33: FLOE-E300 error: ")
    domain_failure = cases["domains/sales/manifest.yaml"].find("failure")
    assert domain_failure is not None and domain_failure.get("type") == "FLOE-E402"


def test_junit_warnings_are_output_not_failures(run: Run, tmp_path: Path) -> None:
    root = copy_tree("w500-unused", tmp_path / "tree")
    code, out, _ = run("validate", root, "--format", "junit")
    suite = ET.fromstring(out).find("testsuite")
    assert code == 0 and suite is not None and suite.get("failures") == "0"
    [warned] = [case for case in suite.findall("testcase") if case.find("system-out") is not None]
    assert warned.get("name") == "enterprise.yaml"
    assert "FLOE-W500 warning" in (warned.findtext("system-out") or "")


# -- secrets ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMATS)
def test_the_literal_secret_is_masked_in_every_format(run: Run, form: str) -> None:
    source = (BROKEN / "e305-literal-secret" / "enterprise.yaml").read_text()
    assert SECRET in source  # the sample does hold it: the check below can fail
    code, out, err = run("validate", BROKEN / "e305-literal-secret", "--format", form)
    assert code == 1
    assert "FLOE-E305" in out
    assert SECRET not in out + err


# -- end to end -------------------------------------------------------------------------------------
def test_the_installed_command_writes_sarif(tmp_path: Path) -> None:
    root = copy_tree("e305-literal-secret", tmp_path / "tree")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOE_")}
    result = subprocess.run(
        [str(FLOE), "validate", str(root), "--format", "sarif"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert (result.returncode, result.stderr) == (1, "")
    jsonschema.validate(json.loads(result.stdout), SCHEMA, cls=jsonschema.Draft4Validator)
    assert SECRET not in result.stdout
