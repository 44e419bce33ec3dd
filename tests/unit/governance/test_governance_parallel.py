"""Loading on several cores (floe_tui.governance.parallel) and the fast builder give what the one
process and the general builder gave: the same diagnostics, the same `validate --format json`
document and the same plan, on the broken samples and on a generated tree with faults mixed in.
Workers are bounded: a crash is a diagnostic, a stuck worker is killed, none outlives a load."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe_tui import cli
from floe_tui.governance import Compiler, hierarchy, parallel, source
from floe_tui.governance.hierarchy import Loader

pytestmark = pytest.mark.timeout(120)
SAMPLES = Path(str(resources.files("floe_tui_samples")))
BROKEN = SAMPLES / "broken"
REPO = Path(__file__).resolve().parents[3]
#: 40 products of 50 transforms: the benchmark's tree (bench/governance_validate.py), 2,000 transforms.
PRODUCTS = 40
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{k}: &{k} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, k in zip("abcdefgh", "bcdefghi", strict=True)
)


def generate(root: Path, products: int) -> None:
    sys.path.insert(0, str(REPO))
    try:
        from bench.governance_validate import generate as bench_generate
    finally:
        sys.path.remove(str(REPO))
    bench_generate(root, products)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate(root, PRODUCTS)
    time.sleep(0.05)  # older than a clock tick: the cache trusts the files' (mtime, size)
    return root


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated tree with a fault in some products, and files the fast builder hands on."""
    root = tmp_path_factory.mktemp("faulty")
    generate(root, PRODUCTS)
    products = sorted(root.glob("domains/*/products/*/floe.yaml"))
    head = products[0].read_text(encoding="utf-8").split("transforms:")[0]
    faults: dict[str, bytes] = {
        "tag": (head + "transforms:\n  - {name: t, compute: !Ref duckdb}\n").encode(),
        "alias-bomb": BOMB.encode(),
        "aliases": ("a: &a x\nb: [" + ", ".join(["*a"] * 101) + "]\n").encode(),
        "anchors": (head + "transforms:\n  - &t {name: a_1}\n  - *t\n").encode(),
        "merge-key": (head + "x: &x {a: 1}\ntransforms:\n  - {<<: *x, name: m}\n").encode(),
        "not-utf8": head.encode() + b"transforms:\n  - {name: caf\xe9}\n",
        "control": (head + "transforms:\n  - {name: a\x07}\n").encode(),
        "syntax": (head + "transforms:\n  - {name: [oops}\n").encode(),
        "unknown-key": (head + "colour: blue\ntransforms:\n  - {name: a}\n").encode(),
        "duplicate": (head + "transforms:\n  - {name: a}\n  - {name: a}\nkind: Manifest\n").encode(),
        "unapproved": (head + "transforms:\n  - {name: a, compute: spark}\n").encode(),
        "deep": (head + "transforms:\n  - {name: a, x: " + "[" * 300 + "]" * 300 + "}\n").encode(),
        "long-number": (head + "transforms:\n  - {name: a, x: " + "9" * 5000 + "}\n").encode(),
        "typed": (head + "transforms:\n  - {name: a, description: yes}\n  - {name: b, x: 0x1F}\n").encode(),
        "empty": b"",
        "foreign": b"apiVersion: v1\nkind: ConfigMap\n",
        "over-10-mib": b"# " + b"x" * (10 * 2**20) + b"\n",
    }
    for product, data in zip(products[1:], faults.values(), strict=False):
        product.write_bytes(data)
    time.sleep(0.05)  # older than a clock tick: the cache trusts the files' (mtime, size)
    return root


@pytest.fixture
def old_path(monkeypatch: pytest.MonkeyPatch) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """A context in which loading is what it was: one process, the general builder everywhere."""

    @contextlib.contextmanager
    def use() -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(source, "FAST_BUILDER", False)
            patch.setattr(parallel, "usable_workers", lambda: 0)
            yield

    return use


@pytest.fixture
def new_path(monkeypatch: pytest.MonkeyPatch) -> Callable[[], contextlib.AbstractContextManager[list[int]]]:
    """A context in which every tree, however small, is read by two forked workers; it yields a
    list that gets the number of files each prefetch handed to the workers."""

    @contextlib.contextmanager
    def use() -> Iterator[list[int]]:
        handed: list[int] = []
        start = parallel.Prefetch.__init__

        def spy(self: parallel.Prefetch, paths: list[Path], workers: int) -> None:
            handed.append(len(paths))
            start(self, paths, workers)

        with monkeypatch.context() as patch:
            patch.setattr(source, "FAST_BUILDER", True)
            patch.setattr(parallel, "usable_workers", lambda: 2)
            patch.setattr(parallel, "MIN_BYTES", 0)
            patch.setattr(hierarchy, "_PARALLEL_MIN_FILES", 0)
            patch.setattr(parallel.Prefetch, "__init__", spy)
            yield handed

    return use


def outcome(path: Path) -> dict[str, Any]:
    """Everything a user sees of a tree: `validate --format json`, its exit code, the diagnostics
    and the whole plan (each transform with its file and line)."""
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["validate", str(path), "--format", "json"])
    plan = Compiler().compile(path)
    return {
        "exit": code,
        "validate": json.loads(out.getvalue()) if code != 2 else None,
        "diagnostics": [d.model_dump() for d in plan.diagnostics],
        "transforms": [t.to_dict() for t in plan.transforms],
        "floe_files": plan.floe_files,
    }


def no_children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


TREES = [*sorted(p.name for p in BROKEN.iterdir() if p.is_dir()), ".", "../acme", "../clouds"]


@pytest.mark.parametrize("tree", TREES)
def test_the_broken_samples_give_what_they_gave(tree: str, old_path: Any, new_path: Any) -> None:
    path = (BROKEN / tree).resolve()
    with old_path():
        before = outcome(path)
    with new_path() as handed:
        after = outcome(path)
    assert handed and all(handed), "the workers read the files"
    assert after == before
    assert not no_children()


def test_a_generated_tree_gives_what_it_gave(generated: Path, old_path: Any, new_path: Any) -> None:
    with old_path():
        before = outcome(generated)
    with new_path() as handed:
        after = outcome(generated)
    assert handed == [PRODUCTS + 21, PRODUCTS + 21]  # validate, then the plan: every file, by the workers
    assert len(after["transforms"]) == PRODUCTS * 50 and after["exit"] == 0
    assert after == before
    assert not no_children()


def test_a_generated_tree_with_faults_gives_what_it_gave(faulty: Path, old_path: Any, new_path: Any) -> None:
    with old_path():
        before = outcome(faulty)
    with new_path() as handed:
        after = outcome(faulty)
    assert handed
    codes = {d["code"] for d in before["diagnostics"]}
    assert {"FLOE-E100", "FLOE-E101", "FLOE-E102", "FLOE-E203", "FLOE-E300"} <= codes
    refusals = {d["message"].split(" (")[0] for d in before["diagnostics"] if d["code"] == "FLOE-E102"}
    assert {
        "not UTF-8",
        "file is 10.0 MiB, over the 10 MiB limit",
        "more than 10000 nodes after alias expansion",
        "more than 100 aliases",
        "YAML tag !Ref is not allowed",
        "merge keys",  # (`<<`) are not supported
    } <= refusals
    assert after == before
    assert not no_children()


def test_a_recheck_reads_only_what_changed_and_gives_the_same(generated: Path, new_path: Any) -> None:
    with new_path() as handed:
        loader = Loader()
        first = loader.load_tree(generated)
        again = loader.load_tree(generated)
    assert handed == [PRODUCTS + 21]  # the second load was answered by the cache
    assert [d.model_dump() for d in again.diagnostics] == [d.model_dump() for d in first.diagnostics]
    assert again.documents.keys() == first.documents.keys()


# -- the fast builder ------------------------------------------------------------------------------
SCALARS = st.sampled_from(
    ["a", "t_1", "yes", "Yes", "yEs", "no", "on", "Off", "y", "null", "~", "", "1", "-1", "0x1F", "0o17",
     "017", "1_000", "1.5", ".5", "1e3", ".inf", "-.Inf", ".nan", "2024-01-01", "12:30:00", "=", "<<", "'<<'",
     '"x"', "'yes'", '"1"', "floe.dev/v1", "../a.yaml", "9" * 40, "1" * 5000, "True", "a b", "x:y", "[1, 2]",
     "{}", "[]", "{a: 1, a: 2}", "|\n  text\n", ">-\n  folded\n", "'it''s'", '"\\u00e9"', "café"]
)  # fmt: skip
KEYS = st.sampled_from(["a", "b", "a", "on", "yes", "1", "'q'", "<<", "? [1]", "x y", "name", "compute"])


@st.composite
def documents(draw: st.DrawFn, depth: int = 0, indent: int = 0) -> str:
    """YAML text: block mappings and sequences of flow collections and scalars, with repeated keys,
    merge keys, typed and quoted scalars, long numbers, complex keys; sometimes too deep."""
    pad = " " * indent
    if depth > 3 or draw(st.booleans()):
        items = draw(st.lists(st.tuples(KEYS, SCALARS), min_size=1, max_size=4))
        return "".join(f"{pad}{key}: {value}\n" for key, value in items)
    if draw(st.booleans()):
        children = draw(st.lists(documents(depth + 1, indent + 2), min_size=1, max_size=3))
        return "".join(f"{pad}-\n{child}" for child in children)
    key = draw(KEYS)
    return f"{pad}{key}:\n" + draw(documents(depth + 1, indent + 2))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_fast_builder_gives_what_the_general_builder_gives(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("fast") / "x.yaml"
    path.write_text(text, encoding="utf-8")
    fast = source.read_source(path)
    source.FAST_BUILDER = False
    try:
        general = source.read_source(path)
    finally:
        source.FAST_BUILDER = True
    assert repr(fast) == repr(general)  # repr: nan != nan, and 1 == True


def test_deep_and_wide_documents_are_handed_to_the_general_builder(tmp_path: Path) -> None:
    cases = {
        "deep.yaml": "a: " + "[" * 201 + "]" * 201 + "\n",
        "wide.yaml": "a: [" + ", ".join(["x"] * 10_001) + "]\n",
        "keys.yaml": "".join(f"k{i}: {i}\n" for i in range(5_001)),
        "merge.yaml": "a: {<<: {b: 1}}\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        fast = source.read_source(tmp_path / name)
        source.FAST_BUILDER = False
        try:
            assert fast == source.read_source(tmp_path / name), name
        finally:
            source.FAST_BUILDER = True
        assert fast[:2] == (False, "FLOE-E102"), name


# -- workers are bounded ---------------------------------------------------------------------------
def test_a_worker_that_dies_is_a_diagnostic_on_the_file_it_was_reading(
    generated: Path, new_path: Any, old_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = sorted(generated.glob("domains/domain-1*/products/*/floe.yaml"))[0]
    real, here = parallel.read_source, os.getpid()

    def deadly(path: Path) -> source.RawSource:
        if path == victim and os.getpid() != here:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path)

    with old_path():
        before = Loader().load_tree(generated)
    with new_path():
        monkeypatch.setattr(parallel, "read_source", deadly)
        monkeypatch.setattr(parallel.Prefetch, "_steal", lambda self: False)  # a worker reads it
        started = time.monotonic()
        after = Loader().load_tree(generated)
    assert time.monotonic() - started < 30
    assert before.diagnostics == []
    [crash] = after.diagnostics
    assert (crash.code, crash.file, crash.line, crash.column) == (
        "FLOE-E102", str(victim.relative_to(generated)), 1, 1
    )  # fmt: skip
    assert crash.message == "the YAML parser process was ended by signal SIGKILL while reading this file"
    # Every other file was read, by the other worker or by this process, as before.
    others = sorted(after.documents.keys() - {victim})
    assert others == sorted(before.documents.keys() - {victim})
    assert not no_children()


def test_a_stuck_worker_is_killed_and_its_files_are_read_here(
    generated: Path, new_path: Any, old_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = sorted(generated.glob("domains/*/products/*/floe.yaml"))[3]
    real, here = parallel.read_source, os.getpid()

    def stuck(path: Path) -> source.RawSource:
        if path == victim and os.getpid() != here:
            time.sleep(600)
        return real(path)

    with old_path():
        before = Loader().load_tree(generated)
    with new_path():
        monkeypatch.setattr(parallel, "read_source", stuck)
        monkeypatch.setattr(parallel.Prefetch, "_steal", lambda self: False)  # a worker reads it
        monkeypatch.setattr(parallel, "NO_PROGRESS_S", 1.0)
        started = time.monotonic()
        after = Loader().load_tree(generated)
    assert time.monotonic() - started < 30
    assert [d.model_dump() for d in after.diagnostics] == [d.model_dump() for d in before.diagnostics]
    assert after.documents.keys() == before.documents.keys()
    assert not no_children()


def test_this_process_takes_tasks_while_the_workers_are_slow(
    generated: Path, new_path: Any, old_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, here = parallel.read_source, os.getpid()
    read_here: list[Path] = []

    def slow_in_workers(path: Path) -> source.RawSource:
        if os.getpid() != here:
            time.sleep(0.05)
        else:
            read_here.append(path)
        return real(path)

    with old_path():
        before = Loader().load_tree(generated)
    with new_path():
        monkeypatch.setattr(parallel, "read_source", slow_in_workers)
        after = Loader().load_tree(generated)
    assert len(read_here) > PRODUCTS // 2, "this process read most files itself"
    assert [d.model_dump() for d in after.diagnostics] == [d.model_dump() for d in before.diagnostics]
    assert {p: d.source.data for p, d in after.documents.items()} == {
        p: d.source.data for p, d in before.documents.items()
    }
    assert not no_children()


def test_an_error_in_this_process_ends_the_workers_at_once(
    generated: Path, new_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = hierarchy.parse_document

    def interrupted(loaded: source.SourceFile) -> Any:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise KeyboardInterrupt
        return real(loaded)

    with new_path():
        monkeypatch.setattr(hierarchy, "parse_document", interrupted)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            Loader().load_tree(generated)
    assert time.monotonic() - started < 10
    assert not no_children()


# -- when workers are used -------------------------------------------------------------------------
def test_a_small_tree_is_read_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import floe_tui.governance

    monkeypatch.delitem(sys.modules, "floe_tui.governance.parallel")
    monkeypatch.delattr(floe_tui.governance, "parallel")
    Compiler().compile(SAMPLES / "acme")
    assert "floe_tui.governance.parallel" not in sys.modules, "a small tree does not even import it"


def test_a_tree_below_the_crossover_is_read_in_this_process(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any) -> None:
        raise AssertionError("forked for a small tree")

    monkeypatch.setattr(parallel, "usable_workers", lambda: 2)
    monkeypatch.setattr(parallel.Prefetch, "__init__", forbidden)
    Loader().load_tree(generated)  # 61 files, 0.1 MiB: under MIN_BYTES


def test_no_fork_from_a_process_that_runs_other_threads() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        assert parallel.usable_workers() == 0
    finally:
        release.set()
        thread.join()


def test_a_machine_whose_cores_are_all_busy_gets_no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (parallel.BUSY_LOAD * cores, 0.0, 0.0))
    assert parallel.usable_workers() == 0
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    if cores > 1 and threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1:
        assert parallel.usable_workers() == min(cores, parallel.MAX_WORKERS)
