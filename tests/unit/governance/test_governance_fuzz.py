"""Fuzzing the loader and compiler: random bytes, truncated and mistyped copies of the sample,
deep nesting and huge scalars. Never a traceback or a hang: each input gives diagnostics (or is
not a floe file at all), `floe-tui validate` exits with the code they imply, and each input is
handled in under a second."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe_tui import cli

pytestmark = pytest.mark.timeout(120)
ACME = Path(str(resources.files("floe_tui_samples"))) / "acme"
SAMPLE_FILES = sorted(str(p.relative_to(ACME)) for p in ACME.rglob("*.yaml"))
PRODUCT = "domains/sales/products/orders/floe.yaml"
FUZZ = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def validate(path: Path) -> tuple[dict[str, Any], int]:
    """Run `floe-tui validate PATH --format json` in this process: its document and exit code.

    The exit code must be what the diagnostics imply (DESIGN section 4), with no traceback, in
    under a second of CPU time (a busy machine does not fail the test; a blocking read would hit
    the module's timeout). Exit 2 (no floe manifest at all) prints one line on stderr and no document.
    """
    started = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli.main(["validate", str(path), "--format", "json"])
    assert time.process_time() - started < 1.0, f"{path} took too long"
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert out.getvalue() == "" and err.getvalue().count("\n") == 1
        return {"ok": False, "diagnostics": [], "transforms": []}, code
    document = json.loads(out.getvalue())
    errors = [d for d in document["diagnostics"] if d["severity"] == "error"]
    assert code == (1 if errors else 0) and document["ok"] is not bool(errors)
    return document, code


def errors(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(d["code"], d["file"], d["message"]) for d in document["diagnostics"] if d["severity"] == "error"}


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "acme"
    shutil.copytree(ACME, root)
    return root


@contextlib.contextmanager
def replaced(path: Path, data: bytes) -> Iterator[Path]:
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield path
    finally:
        path.write_bytes(original)


# -- random bytes ----------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=2_000))
def test_random_bytes_alone_are_a_diagnostic_or_not_a_manifest(acme: Path, data: bytes) -> None:
    folder = acme.parent / "alone"
    folder.mkdir(exist_ok=True)
    (folder / "floe.yaml").write_bytes(data)
    document, code = validate(folder)
    assert code in (1, 2)
    assert (code == 1) == bool(document["diagnostics"])


@FUZZ
@given(st.binary(max_size=2_000) | st.text(max_size=500).map(str.encode))
def test_random_bytes_in_place_of_a_product_never_break_the_tree(acme: Path, data: bytes) -> None:
    with replaced(acme / PRODUCT, data):
        document, _ = validate(acme)
        validate(acme / PRODUCT)
    assert {t["product"] for t in document["transforms"]} >= {"customers", "ledger", "revenue", "campaigns"}


@FUZZ
@given(st.binary(min_size=1, max_size=300))
def test_yaml_looking_noise_after_a_valid_head_is_a_diagnostic(acme: Path, noise: bytes) -> None:
    head = b"apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: orders}\n"
    with replaced(acme / PRODUCT, head + noise):
        document, code = validate(acme / PRODUCT)
    assert code == 1 and document["diagnostics"]


# -- truncated copies ------------------------------------------------------------------------------
@pytest.mark.parametrize("relative", SAMPLE_FILES)
def test_every_truncation_of_a_sample_file_is_handled(acme: Path, relative: str) -> None:
    original = (acme / relative).read_bytes()
    lines = {i + 1 for i, byte in enumerate(original) if byte == ord("\n")}
    for cut in sorted({*range(0, len(original), 7), *lines}):
        with replaced(acme / relative, original[:cut]):
            validate(acme / relative)
            if cut in lines:
                validate(acme)


# -- deep nesting and huge values ------------------------------------------------------------------
API = "apiVersion: floe.dev/v1\n"
DEEP_MAPS = "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b: 1\n"
ALIAS_BOMB = (
    "a: &a [" + ", ".join(["x"] * 50) + "]\n"
    "b: &b [" + ", ".join(["*a"] * 50) + "]\n"
    "c: [" + ", ".join(["*b"] * 50) + "]\n"
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("[" * 10_000, "FLOE-E102", id="10000-open-brackets"),
        pytest.param("[" * 5_000 + "]" * 5_000, "FLOE-E102", id="10000-balanced-brackets"),
        pytest.param("{a: " * 5_000 + "1" + "}" * 5_000, "FLOE-E102", id="deep-flow-mappings"),
        pytest.param("- " * 3_000 + "x\n", "FLOE-E102", id="deep-block-lists"),
        pytest.param(DEEP_MAPS, "FLOE-E102", id="deep-block-maps"),
        pytest.param(API + "kind: " + "x" * 5_000_000 + "\n", "FLOE-E101", id="huge-scalar"),
        pytest.param(API + "k" * 1_000_000 + ": 1\n", "FLOE-E100", id="huge-key"),
        pytest.param(API + "kind: FloeSpec\nx: " + "9" * 100_000 + "\n", "FLOE-E102", id="huge-int"),
        pytest.param(API + "kind: FloeSpec\nx: 1e99999\n", "FLOE-E101", id="overflowing-float"),
        pytest.param(ALIAS_BOMB, "FLOE-E102", id="alias-bomb"),
    ],
)  # fmt: skip
def test_deep_and_huge_documents_are_a_quick_diagnostic(tmp_path: Path, text: str, code: str) -> None:
    (tmp_path / "floe.yaml").write_text(text, encoding="utf-8")
    document, exit_code = validate(tmp_path / "floe.yaml")
    assert exit_code == 1
    assert code in [d["code"] for d in document["diagnostics"]]


def test_a_9_mib_description_is_read_in_under_a_second(acme: Path) -> None:
    text = (acme / PRODUCT).read_text(encoding="utf-8")
    huge = text.replace("description: cleaned order lines", "description: " + "x" * (9 * 2**20))
    assert huge != text
    with replaced(acme / PRODUCT, huge.encode()):
        document, _ = validate(acme)
    assert [d["code"] for d in document["diagnostics"] if d["file"] == PRODUCT] == []


# -- wrong types at every key of the sample --------------------------------------------------------
REPLACEMENTS: dict[str, Any] = {"list": ["x", 1], "int": 7, "mapping": {"x": 1}, "null": None}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list item below `node`, as a path of keys and indexes."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def must_fail(data: dict[str, Any], path: tuple[Any, ...], kind: str) -> bool:
    """Whether putting `kind` at `path` is certainly invalid (so it must give a new error)."""
    original = data
    for part in path:
        original = original[part]
    free_form = "transforms" in path and path[0] == "environments" and len(path) > 4  # tuning values
    other_tool = path[0] == "apiVersion"  # the file is then ignored, by design
    not_checked = "connection" in path and _target_plugin(data, path) != "duckdb"  # its plugin checks it
    if free_form or other_tool or not_checked or kind in ("null", "int"):
        return False
    return not (kind == "list" and isinstance(original, list)) and not (
        kind == "mapping" and isinstance(original, dict)
    )


def _target_plugin(data: dict[str, Any], path: tuple[Any, ...]) -> str | None:
    if path[:2] != ("compute", "approved"):
        return None
    target = data["compute"]["approved"][path[2]]
    return str(target.get("plugin", target["name"]))


@pytest.mark.parametrize("relative", SAMPLE_FILES)
def test_a_wrong_type_at_every_key_is_a_diagnostic(acme: Path, relative: str) -> None:
    data = yaml.safe_load((acme / relative).read_text(encoding="utf-8"))
    with replaced(acme / relative, yaml.safe_dump(data).encode()):
        known = errors(validate(acme)[0])
    for path in paths(data):
        for kind, value in REPLACEMENTS.items():
            changed = copy.deepcopy(data)
            holder = changed
            for part in path[:-1]:
                holder = holder[part]
            holder[path[-1]] = copy.deepcopy(value)
            with replaced(acme / relative, yaml.safe_dump(changed).encode()):
                document, _ = validate(acme)
            if must_fail(data, path, kind):
                assert errors(document) - known, f"{relative}: {kind} at {path} was accepted"
