"""Loading one YAML file safely (DESIGN section 3): E100 and E102 with exact positions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from floe_tui.governance.diagnostics import Diagnostic
from floe_tui.governance.source import MAX_BYTES, SourceFile, load_source

PRODUCT = "domains/sales/products/orders/floe.yaml"
HEAD = "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: orders}\n"


def load(path: Path) -> SourceFile:
    loaded = load_source(path, path.name)
    assert isinstance(loaded, SourceFile), loaded
    return loaded


def refused(path: Path) -> Diagnostic:
    loaded = load_source(path, path.name)
    assert isinstance(loaded, Diagnostic), "the file was accepted"
    return loaded


# -- positions ---------------------------------------------------------------------------------
def test_every_key_and_value_has_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text(HEAD + "transforms:\n  - {name: stg_orders, compute: duckdb}\n  - name: fct_orders\n")
    source = load(path)
    assert source.key_position(("metadata", "name")) == (3, 12)
    assert source.value_position(("metadata", "name")) == (3, 18)
    assert source.value_position(("transforms", 0, "compute")) == (5, 33)
    assert source.key_position(("transforms", 1, "name")) == (6, 5)
    assert source.value_position(("transforms", 1, "name")) == (6, 11)
    # A path that is not in the file falls back to its nearest ancestor.
    assert source.key_position(("transforms", 1, "compute")) == (6, 5)


def test_text_stays_text_and_on_is_not_true(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("on: 2024-01-01\nyes: 1\nport: 9440\nratio: 0.5\nnothing: ~\n")
    assert load(path).data == {"on": "2024-01-01", "yes": 1, "port": 9440, "ratio": 0.5, "nothing": None}


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert load(path).data["kind"] == "FloeSpec"


def test_a_repeated_key_is_recorded_at_the_repeat(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text(HEAD + "kind: Manifest\n")
    source = load(path)
    assert source.data["kind"] == "FloeSpec"  # the first value is kept
    assert source.duplicate_keys == [(("kind",), (4, 1))]


# -- E100 --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param(
            HEAD + "transforms:\n  - {name: a\nenvironments: {}\n", 6, 13, id="unclosed-flow-mapping"
        ),
        pytest.param(HEAD + "transforms:\n  - name: a\n   compute: b\n", 6, 4, id="bad-indentation"),
        pytest.param(HEAD + "transforms:\n\t- name: a\n", 5, 1, id="tab-indentation"),
        pytest.param(HEAD + "---\nkind: Manifest\n", 4, 1, id="second-document"),
        pytest.param(HEAD + 'platform: {manifest: "../x.yaml}\n', 5, 1, id="unclosed-quote"),
    ],
)
def test_a_syntax_error_is_e100_at_the_parser_mark(
    write_tree: Callable[..., Path],
    diagnose: Callable[[Path], list[tuple[str, str, int, int]]],
    text: str,
    line: int,
    column: int,
) -> None:
    root = write_tree({PRODUCT: text})
    assert diagnose(root) == [("FLOE-E100", PRODUCT, line, column)]


# -- E102 --------------------------------------------------------------------------------------
def test_a_python_tag_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "floe.yaml"
    path.write_text(HEAD + f"description: !!python/object/apply:os.system ['touch {marker}']\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 4, 14)
    assert "!!python/object/apply:os.system" in diagnostic.message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "column"),
    [("!Ref orders", 14), ("!!binary aGVsbG8=", 14), ("!!set {a, b}", 14), ("[!!timestamp x]", 15)],
)
def test_any_tag_is_e102_at_the_tagged_node(tmp_path: Path, value: str, column: int) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text(HEAD + f"description: {value}\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 4, column)


def test_a_merge_key_is_e102_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text("base: &b {threads: 2}\nprod:\n  <<: *b\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 3, 3)
    assert "merge keys" in diagnostic.message


def test_a_file_over_10_mib_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: the size is what counts
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 1, 1)
    assert "10 MiB" in diagnostic.message


def test_up_to_100_aliases_are_fine_and_the_101st_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("base: &b [1]\nrefs: [" + ", ".join(["*b"] * 100) + "]\n")
    assert len(load(path).data["refs"]) == 100
    path.write_text("base: &b [1]\nrefs: [" + ", ".join(["*b"] * 101) + "]\n")
    diagnostic = refused(path)
    # The composer hands out the anchored node for each alias: the position is the anchor's.
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 1, 7)
    assert "more than 100 aliases" in diagnostic.message


def test_aliases_of_scalars_count_too(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: &n orders\nrefs: [" + ", ".join(["*n"] * 101) + "]\n")
    assert "more than 100 aliases" in refused(path).message


def test_an_alias_bomb_is_refused_by_its_expanded_size(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        "b: &b [" + ", ".join(["*a"] * 10) + "]\n"
        "c: &c [" + ", ".join(["*b"] * 10) + "]\n"
        "d: [" + ", ".join(["*c"] * 10) + "]\n"
    )
    diagnostic = refused(path)
    assert diagnostic.code == "FLOE-E102"
    assert "more than 10000 nodes" in diagnostic.message


def test_more_than_10000_plain_nodes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("items: [" + ", ".join(["1"] * 9_997) + "]\n")  # + map, key and list: 10,000
    assert len(load(path).data["items"]) == 9_997
    path.write_text("items: [" + ", ".join(["1"] * 9_998) + "]\n")
    assert "more than 10000 nodes" in refused(path).message


def test_not_utf8_is_e102_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_bytes(b"apiVersion: floe.dev/v1\nmetadata: {name: caf\xe9}\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 2, 21)
    assert "not UTF-8" in diagnostic.message


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b"])
def test_control_characters_are_e102_at_their_position(tmp_path: Path, character: str) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text(f"apiVersion: floe.dev/v1\nkind: Flo{character}eSpec\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 2, 10)
    assert f"U+{ord(character):04X}" in diagnostic.message


def test_an_integer_too_long_to_convert_is_e102_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "floe.yaml"
    path.write_text("apiVersion: floe.dev/v1\nquery_timeout_s: " + "9" * 5000 + "\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 2, 18)


def test_nesting_deeper_than_200_levels_is_e102(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("[" * 150 + "]" * 150 + "\n")
    load(path)
    path.write_text("[" * 250 + "]" * 250 + "\n")
    diagnostic = refused(path)
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 1, 202)


def test_10000_nested_brackets_are_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("[" * 10_000)
    assert refused(path).code in {"FLOE-E100", "FLOE-E102"}


def test_a_symlink_loop_is_e102(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    diagnostic = refused(tmp_path / "a.yaml")
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("FLOE-E102", 1, 1)
    assert "symbolic link loop" in diagnostic.message


def test_a_dangling_symlink_is_e102(tmp_path: Path) -> None:
    (tmp_path / "floe.yaml").symlink_to(tmp_path / "gone.yaml")
    diagnostic = refused(tmp_path / "floe.yaml")
    assert diagnostic.code == "FLOE-E102"
    assert "cannot read" in diagnostic.message


@pytest.mark.timeout(10)
def test_a_fifo_is_e102_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "floe.yaml")
    diagnostic = refused(tmp_path / "floe.yaml")
    assert (diagnostic.code, diagnostic.message) == ("FLOE-E102", "not a regular file")


def test_the_shared_scalar_constructor_keeps_no_nodes(tmp_path: Path) -> None:
    from floe_tui.governance import source

    path = tmp_path / "x.yaml"
    path.write_text("a: 1\nb: 2.5\nc: true\nd: ~\n")
    load(path)
    assert not source._CONSTRUCTOR.constructed_objects  # nothing is cached between files
