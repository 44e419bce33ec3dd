"""Issue 13, point 4: generated and mutated manifests, and a corpus of the nastiest cases.

At least 2,000 inputs per run go through the compiler in this process (hypothesis, bounded and
derandomized, so every run tries the same inputs): whole trees whose documents are generated
with random edits (values of any type at any key, keys added, renamed, removed), and the sample
tree with one file mutated byte by byte (nasty tokens: anchors, tags, merge keys, NUL, invalid
UTF-8, brackets, tabs, BOMs...). Each must compile without an exception, in under a second of
CPU, to diagnostics that all have a file, a line, a column and a hint, and to the exit code
`validate` would give (0, 1 or 2); every report format must render. The committed corpus
(`corpus/`, see its README) and inputs made here (10 MiB + 1 byte, symbolic link loops, a FIFO)
must be refused as their names say. A sample of 30 (the corpus's worst and generated ones) goes
through `floe-tui validate` as child processes: no traceback, exit 0/1/2, each in under a second.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from floe_tui import cli
from floe_tui.governance import CATALOGUE, Compiler, Plan
from floe_tui.reports import ci_report

from .support import CHECKOUT, HERE, child_env

CORPUS = HERE / "corpus"
CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.suffix == ".yaml")
ACME = Path(str(resources.files("floe_tui_samples"))) / "acme"
ACME_FILES = sorted(str(p.relative_to(ACME)) for p in ACME.rglob("*.yaml"))
PRODUCT = "domains/sales/products/orders/floe.yaml"
#: The issue asks for at least this many compiled inputs per run.
AT_LEAST = 2000
STRUCTURED_EXAMPLES = 1000
MUTATED_EXAMPLES = 1000
#: Generated inputs kept (one in this many) for the `validate` child processes.
KEEP_EVERY = 150
SUBPROCESS_SAMPLE = 30
FUZZ = settings(
    derandomize=True,  # the same inputs every run: CI failures reproduce
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
#: Compiles done by this module, and distinct inputs among them (the issue's 2,000 is checked
#: at the end, on inputs: a mutated file is compiled in its tree, and one in four alone too).
COMPILED: list[int] = [0]
INPUTS: list[int] = [0]
KEPT: list[Path] = []


# -- the checks every input must pass ------------------------------------------------------------
def exit_code(plan: Plan) -> int:
    """What `floe-tui validate` exits with for this plan (DESIGN section 4)."""
    if plan.floe_files == 0:
        return 2
    return 0 if plan.ok else 1


def compile_checked(path: Path, *, reports: bool = False) -> Plan:
    """Compile `path` in a fresh compiler (no cache between inputs) and check the result."""
    started = time.process_time()
    plan = Compiler().compile(path)
    cpu = time.process_time() - started
    COMPILED[0] += 1
    assert cpu < 1.0, f"{path}: {cpu:.2f} s of CPU to compile"
    for d in plan.diagnostics:
        assert d.code in CATALOGUE, d
        assert isinstance(d.file, str) and d.file, d
        assert d.line >= 1 and d.column >= 1, d
        assert d.message.strip() and d.hint.strip(), d
    assert exit_code(plan) in (0, 1, 2)
    if plan.floe_files:
        from floe_tui.commands import validation_document

        json.dumps(validation_document(plan))  # the --format json document renders
        if reports:
            for form in ("github", "sarif", "junit"):
                ci_report(plan, form)
    return plan


def keep(case: Path, root: Path) -> None:
    """Keep a copy of a generated input for the `validate` child processes."""
    if COMPILED[0] % KEEP_EVERY == 0:
        copy_to = root / "kept" / f"case-{COMPILED[0]}"
        if case.is_dir():
            shutil.copytree(case, copy_to)
        else:
            copy_to.mkdir(parents=True)
            shutil.copy(case, copy_to / case.name)
        KEPT.append(copy_to)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- generated trees -----------------------------------------------------------------------------
ENTERPRISE: dict[str, Any] = {
    "apiVersion": "floe.dev/v1",
    "kind": "Manifest",
    "metadata": {"name": "acme", "scope": "enterprise", "owner": "platform@acme.example"},
    "environments": ["dev", "prod"],
    "compute": {
        "approved": [
            {"name": "duckdb", "plugin": "duckdb", "connection": {"path": ":memory:"}, "pool": {"size": 2}},
            {"name": "spark", "plugin": "spark", "connection": {"master": "local[2]"}},
            {
                "name": "snowflake",
                "plugin": "snowflake",
                "connection": {"account": "acme", "user": "floe"},
                "credentials": {"password": {"env": "SNOWFLAKE_PASSWORD"}},
            },
        ],
        "default": "duckdb",
        "query_timeout_s": 30,
    },
}
DOMAIN: dict[str, Any] = {
    "apiVersion": "floe.dev/v1",
    "kind": "Manifest",
    "metadata": {"name": "sales", "scope": "domain"},
    "parent": "../../enterprise.yaml",
    "compute": {"approved": ["duckdb", "spark"], "default": "duckdb"},
}
PRODUCT_DOC: dict[str, Any] = {
    "apiVersion": "floe.dev/v1",
    "kind": "FloeSpec",
    "metadata": {"name": "orders"},
    "platform": {"manifest": "../../manifest.yaml"},
    "compute": {"approved": ["duckdb", "spark"], "default": "duckdb"},
    "transforms": [{"name": "stg_orders", "compute": "duckdb"}, {"name": "fct_orders", "compute": "spark"}],
    "environments": {"prod": {"transforms": {"fct_orders": {"threads": 4}}}},
}
DOCS = {
    "enterprise.yaml": ENTERPRISE,
    "domains/sales/manifest.yaml": DOMAIN,
    "domains/sales/products/orders/floe.yaml": PRODUCT_DOC,
}
NAMES = ["duckdb", "spark", "snowflake", "orders", "sales", "acme", "dev", "prod", "enterprise", "domain"]
SPECIAL = ["../../enterprise.yaml", "/dev/null", "floe.yaml", ".", "", "{env: X}", "*a", "&a x", "~", "yes"]
#: Characters for generated text: ASCII, whitespace YAML treats specially, and non-ASCII ones
#: (accents, CJK, an emoji, bidi and zero-width marks, NEL, BOM).
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:{}[],&*!|>'\"#%@` \t"
    "\u00e9\u00df\u4f60\U0001f642\u202e\u200b\u0085\ufeff"
)
#: One hypothesis draw per example (a seed): drawing every value through hypothesis cost 7 ms per
#: example, ten times the compile. `derandomize=True` makes the seeds, so the inputs, the same
#: every run; a failure prints its seed.
seeds = st.integers(min_value=0, max_value=2**63)


def random_text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def random_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(NAMES)
    if kind == 1:
        return random_text(rng)
    if kind == 2:
        return rng.choice([rng.randint(-(2**70), 2**70), rng.randint(-3, 300)])
    if kind == 3:
        return rng.choice([rng.uniform(-1e6, 1e6), float("nan"), float("inf"), -0.0, 1e308])
    if kind == 4:
        return rng.random() < 0.5
    if kind == 5:
        return None
    return rng.choice(SPECIAL)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 2 or roll < 0.6:
        return random_scalar(rng)
    if roll < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        rng.choice(NAMES) if rng.random() < 0.5 else random_text(rng, 8) for _ in range(rng.randint(0, 3))
    ]
    return {key: random_value(rng, depth + 1) for key in keys}


def random_edits(rng: random.Random) -> list[tuple[str, int, str, Any, str]]:
    return [
        (
            rng.choice(sorted(DOCS)),
            rng.randrange(10**6),
            rng.choice(["replace", "delete", "add", "rename"]),
            random_value(rng),
            rng.choice(NAMES) if rng.random() < 0.5 else random_text(rng, 8) or "k",
        )
        for _ in range(rng.randint(1, 4))
    ]


#: libyaml's emitter where PyYAML has it: the pure-Python one costs more than the compile.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def apply(doc: dict[str, Any], choice: int, action: str, value: Any, key: str) -> None:
    where = list(paths(doc))
    if not where:
        doc[key] = value
        return
    path = where[choice % len(where)]
    holder: Any = doc
    for part in path[:-1]:
        holder = holder[part]
    last = path[-1]
    if action == "replace":
        holder[last] = value
    elif action == "delete":
        del holder[last]
    elif action == "add":
        target = holder[last]
        if isinstance(target, dict):
            target[key] = value
        elif isinstance(target, list):
            target.append(value)
        else:
            holder[last] = [target, value]
    elif isinstance(holder, dict):  # rename a key, keeping its value
        holder[key] = holder.pop(last)


@settings(FUZZ, max_examples=STRUCTURED_EXAMPLES)
@given(seeds)
def test_generated_trees_compile_to_clean_diagnostics(workspace: Path, seed: int) -> None:
    rng = random.Random(seed)
    docs = copy.deepcopy(DOCS)
    for file, choice, action, value, key in random_edits(rng):
        apply(docs[file], choice, action, value, key)
    case = workspace / "generated"  # the same three paths each time; a fresh compiler reads them
    flow, unicode, sort = (rng.random() < 0.5 for _ in range(3))
    for relative, doc in docs.items():
        (case / relative).parent.mkdir(parents=True, exist_ok=True)
        text = yaml.dump(doc, Dumper=DUMPER, default_flow_style=flow, allow_unicode=unicode, sort_keys=sort)
        (case / relative).write_text(text, encoding="utf-8")
    INPUTS[0] += 1
    compile_checked(case, reports=COMPILED[0] % 10 == 0)
    keep(case, workspace)


# -- mutated sample files ------------------------------------------------------------------------
TOKENS = [
    b"&a ", b"*a", b"*b", b"&b [*a, *a, *a]", b"!!python/object/apply:os.system ['id']", b"!Ref ",
    b"!!str ", b"!!binary ", b"<<: *a\n", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf",
    b"\t", b"\r", b"\r\n", b"{", b"}", b"[", b"]", b"- ", b": ", b"? ", b"'", b'"', b"\\", b"#",
    b"---\n", b"...\n", b"%YAML 1.1\n", b"|\n", b">-\n", b"~", b"null", b"yes", b"on", b"0x1F",
    b"1e99999", b"9" * 40, b".inf", b"\x1b[2J", "\u202e".encode(), "\U0001f642".encode(),
    b"password: hunter2\n", b"credentials: {token: abc}\n", b"parent: ../../../../etc/passwd\n",
    b"parent: /dev/zero\n", b"manifest: /proc/self/environ\n", b"[" * 300, b"{a: " * 300,
]  # fmt: skip
OPERATIONS = ["insert", "delete", "replace", "duplicate", "swap", "truncate", "indent"]


def random_mutations(rng: random.Random) -> list[tuple[str, float, bytes, int]]:
    return [
        (
            rng.choice(OPERATIONS),
            rng.random(),
            rng.choice(TOKENS) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 16)),
            rng.randint(1, 40),
        )
        for _ in range(rng.randint(1, 5))
    ]


def mutate(data: bytes, operations: list[Any]) -> bytes:
    for op, where, payload, span in operations:
        at = int(where * len(data))
        lines = data.split(b"\n")
        line = min(len(lines) - 1, int(where * len(lines)))
        if op == "insert":
            data = data[:at] + payload + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + span :]
        elif op == "replace":
            data = data[:at] + payload + data[at + len(payload) :]
        elif op == "duplicate":
            data = b"\n".join([*lines[: line + 1], lines[line], *lines[line + 1 :]])
        elif op == "swap" and len(lines) > 1:
            other = (line + span) % len(lines)
            lines[line], lines[other] = lines[other], lines[line]
            data = b"\n".join(lines)
        elif op == "truncate":
            data = data[:at]
        elif op == "indent":
            lines[line] = b" " * (span % 7) + lines[line].lstrip(b" ")
            data = b"\n".join(lines)
    return data


@pytest.fixture(scope="module")
def acme_copy(workspace: Path) -> Path:
    root = workspace / "acme"
    shutil.copytree(ACME, root)
    return root


@settings(FUZZ, max_examples=MUTATED_EXAMPLES)
@given(seeds)
def test_mutated_sample_files_compile_to_clean_diagnostics(
    acme_copy: Path, workspace: Path, seed: int
) -> None:
    rng = random.Random(seed)
    relative = rng.choice(ACME_FILES)
    path = acme_copy / relative
    original = (ACME / relative).read_bytes()
    path.write_bytes(mutate(original, random_mutations(rng)))
    INPUTS[0] += 1
    try:
        compile_checked(acme_copy, reports=COMPILED[0] % 10 == 0)
        if INPUTS[0] % 4 == 0:
            compile_checked(path)  # the file alone, following its links upward
        keep(acme_copy, workspace)
    finally:
        path.write_bytes(original)


# -- the corpus and the inputs made here ---------------------------------------------------------
def expectation(name: str) -> str:
    return name.split("-", 1)[0]


@pytest.mark.parametrize("case", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_corpus_case(case: Path, acme_copy: Path) -> None:
    INPUTS[0] += 1
    plan = compile_checked(case, reports=True)
    errors = {d.code for d in plan.diagnostics if d.is_error}
    expected = expectation(case.name)
    if expected == "ok":
        assert exit_code(plan) == 0, plan.diagnostics
    elif expected == "none":
        assert exit_code(plan) == 2, plan.diagnostics
    else:
        assert f"FLOE-{expected.upper()}" in errors, plan.diagnostics
    # In place of a product of a whole tree: that product's file fails, the rest still compiles.
    product = acme_copy / PRODUCT
    original = product.read_bytes()
    product.write_bytes(case.read_bytes())
    try:
        tree = compile_checked(acme_copy)
    finally:
        product.write_bytes(original)
    assert {t.product for t in tree.transforms} >= {"customers", "ledger", "revenue", "campaigns"}


HEAD = "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: corp, scope: enterprise}\n"


def made_cases(root: Path) -> dict[str, Path]:
    """The inputs that cannot be committed, each expected to be refused with FLOE-E102."""
    root.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}
    over = root / "over-10-mib.yaml"
    with over.open("wb") as out:  # 10 MiB + 1 byte: a valid head, then a comment
        out.write(HEAD.encode() + b"#")
        out.write(b"x" * (10 * 2**20 + 1 - len(HEAD) - 2))
        out.write(b"\n")
    assert over.stat().st_size == 10 * 2**20 + 1
    cases["10 MiB + 1 byte"] = over
    loop = root / "loop.yaml"
    loop.symlink_to(loop.name)  # points at itself
    cases["a symlink to itself"] = loop
    first, second = root / "ping.yaml", root / "pong.yaml"
    first.symlink_to(second.name)
    second.symlink_to(first.name)
    cases["two symlinks to each other"] = first
    fifo = root / "pipe.yaml"
    os.mkfifo(fifo)  # reading it would block forever
    cases["a FIFO"] = fifo
    return cases


def test_made_inputs_are_refused_with_e102_and_quickly(workspace: Path) -> None:
    cases = made_cases(workspace / "made")
    for what, path in cases.items():
        plan = compile_checked(path)
        assert [d.code for d in plan.diagnostics] == ["FLOE-E102"], (what, plan.diagnostics)
    # In a directory tree: each of them is one E102 on its own file, and a loop of directory
    # links is not followed at all.
    tree = workspace / "made-tree"
    shutil.copytree(ACME, tree)
    (tree / "domains" / "sales" / "back").symlink_to("..", target_is_directory=True)
    for what, path in made_cases(tree / "domains" / "sales" / "products" / "junk").items():
        assert path.exists() or path.is_symlink(), what
    plan = compile_checked(tree)
    junk = [d for d in plan.diagnostics if "junk" in d.file]
    assert sorted(d.code for d in junk) == ["FLOE-E102"] * 5, junk  # 10 MiB + 1, 3 links, the FIFO
    exactly = workspace / "exactly-10-mib.yaml"
    with exactly.open("wb") as out:
        out.write(HEAD.encode() + b"#" + b"x" * (10 * 2**20 - len(HEAD) - 2) + b"\n")
    assert exactly.stat().st_size == 10 * 2**20
    plan = compile_checked(exactly)
    assert all("MiB" not in d.message for d in plan.diagnostics), "10 MiB itself is within the limit"


def test_file_names_that_are_not_utf8_print_in_every_format(workspace: Path) -> None:
    """A manifest whose name is not UTF-8 (a surrogate escape in Python) reaches every report."""
    root = workspace / "names"
    shutil.copytree(ACME, root)
    weird = os.fsdecode(b"bad-\xff-name.yaml")
    (root / "domains" / "sales" / "products" / "orders" / weird).write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: weird}\n"
        "platform: {manifest: ../../manifest.yaml}\ntransforms: [{name: t, compute: nope}]\n"
    )
    plan = compile_checked(root, reports=True)
    assert any(weird in d.file for d in plan.diagnostics)
    for form in ("text", "json", "github", "sarif", "junit"):
        # stdout as in most UTF-8 locales (strict errors), not pytest's capture
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["validate", str(root), "--format", form])
            out.flush()
            err.flush()
        assert code == 1, form
        written = out.buffer.getvalue()  # type: ignore[attr-defined]
        assert b"bad-" in written and b"Traceback" not in err.buffer.getvalue(), form  # type: ignore[attr-defined]


# -- the count, and a sample through `floe-tui validate` ----------------------------------------
def test_at_least_2000_inputs_went_through_the_compiler(request: pytest.FixtureRequest) -> None:
    names = {item.originalname for item in request.session.items if item.module is request.module}
    if (
        not {
            "test_generated_trees_compile_to_clean_diagnostics",
            "test_mutated_sample_files_compile_to_clean_diagnostics",
        }
        <= names
    ):
        pytest.skip("the generated and mutated inputs were not selected in this run")
    assert INPUTS[0] >= AT_LEAST, (INPUTS[0], COMPILED[0])


def run_validate(path: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`floe-tui validate PATH --format json` as a child: the result, its wall and CPU seconds
    (the child's own, from wait4: two run at once)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "floe_tui.cli", "validate", str(path), "--format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=child_env(os.environ),
            cwd=str(CHECKOUT),
        )
        killer = threading.Timer(30, child.kill)  # a hang fails the test instead of blocking it
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(
            child.args,
            child.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    return done, wall, usage.ru_utime + usage.ru_stime


def test_a_sample_through_the_validate_command(workspace: Path, record: Any) -> None:
    worst = [p for p in CORPUS_FILES if expectation(p.name) in ("e102", "e100")]
    sample: list[Path] = list(made_cases(workspace / "made-for-cli").values())
    sample += worst[: SUBPROCESS_SAMPLE - len(sample) - min(len(KEPT), 10)]
    sample += KEPT[:10]
    sample += CORPUS_FILES[: max(0, SUBPROCESS_SAMPLE - len(sample))]
    sample = sample[:SUBPROCESS_SAMPLE]
    assert len(sample) == SUBPROCESS_SAMPLE
    walls: list[float] = []
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: two cores
        results = list(pool.map(run_validate, sample))
    cpus = [cpu for _, _, cpu in results]
    for path, (done, wall, cpu) in zip(sample, results, strict=True):
        walls.append(wall)
        assert done.returncode in (0, 1, 2), (path, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, (path, done.stderr)
        assert cpu < 1.0, f"{path}: {cpu:.2f} s of CPU"
        if done.returncode == 2:
            assert done.stdout == "" and done.stderr.count("\n") == 1, (path, done.stderr)
            continue
        document = json.loads(done.stdout)
        assert document["ok"] is (done.returncode == 0)
        for d in document["diagnostics"]:
            assert d["file"] and d["line"] >= 1 and d["column"] >= 1 and d["hint"], (path, d)
    walls.sort()
    # "Each under a second" is asserted on each run's own CPU time (above): wall time on two cores
    # shared with other work measures the machine (0.35-0.45 s a run when it is quiet, over 1 s at
    # a load of 5). The wall bound here only says that nothing hung.
    assert walls[-1] < 5.0, walls
    record(
        f"{INPUTS[0]} generated/mutated/corpus manifests ({COMPILED[0]} compiles) in-process, "
        f"{len(sample)} through `validate`",
        "governance (no engine)",
        f"no traceback, exit 0/1/2, every diagnostic with file:line:column and hint; `validate` CPU "
        f"max {max(cpus):.2f} s, wall median {walls[len(walls) // 2]:.2f} s, max {walls[-1]:.2f} s",
        None,
    )
