"""Issue 13, point 3: a full disk and an unwritable directory, for every file the console writes.

The writers (query history, CSV export, `floe-tui profiles`' profiles.yml, the first-paint
snapshot cache) run in a child process (`writers.py`) where writing fails: under
``RLIMIT_FSIZE`` with SIGXFSZ ignored (a write past the limit fails with EFBIG, as on a full
disk) or as the unprivileged user 65534 in a directory it cannot write (CI runs as root). Each
gives one clear error (the cache, being best effort by design, none), the previous file stays
intact byte for byte and nothing half-written is left beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .support import DUCKDB_TARGET, HERE, child_env, databricks_target, write_tree
from .writers import WRITERS

WRITER = HERE / "writers.py"
#: The file each writer keeps, relative to its directory.
FILES = {
    "history": "history.json",
    "csv": "result.csv",
    "profiles": "profiles.yml",
    "cache": "snapshots",  # one file below, named by a digest of the manifests path
}
#: What each writer's error names, per fault.
EXPECTED = {
    ("history", "fsize"): "cannot save the history: File too large",
    ("history", "nobody"): "cannot save the history: Permission denied",
    ("csv", "fsize"): "export failed: ",
    ("csv", "nobody"): "export failed: PermissionError: [Errno 13] Permission denied",
    (
        "profiles",
        "fsize",
    ): "error: cannot write to {dir}: File too large (hint: pass -o with a writable directory)",
    (
        "profiles",
        "nobody",
    ): "error: cannot write to {dir}: Permission denied (hint: pass -o with a writable directory)",
}
FSIZE_LIMIT = 1024


def make_workdir() -> Path:
    """A directory under /tmp that user 65534 can enter and read (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="floe-faults-disk-", dir="/tmp"))
    base.chmod(0o755)
    return base


def remove_workdir(base: Path) -> None:
    for folder, _, _ in os.walk(base):
        Path(folder).chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


def contents(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (hidden temporary files included) and its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


@dataclass
class Faulted:
    """One mode's child run: the previous files of every writer and what each writer reported."""

    root: Path
    manifests: Path
    before: dict[str, dict[str, bytes]]
    results: dict[str, dict[str, Any]]


def faulted_run(mode: str, env: dict[str, str]) -> Faulted:
    root = make_workdir()
    duckdb = {k: v for k, v in DUCKDB_TARGET.items() if k != "credentials"}
    manifests = write_tree(root / "manifests", [duckdb, databricks_target()])
    before: dict[str, dict[str, bytes]] = {}
    for writer, run in WRITERS.items():  # the previous version of each file, written as usual
        target = root / "out" / writer
        target.mkdir(parents=True)
        result = run(target, manifests, 3)
        assert result.get("error") is None, (writer, result)
        if writer == "profiles":
            with (target / FILES[writer]).open("a") as profile:
                profile.write("# the previous version: a rewrite drops this comment\n")
        before[writer] = contents(target)
        assert before[writer], f"{writer}: the previous version was written"
    if mode == "nobody":
        for path in (root / "out").rglob("*"):
            path.chmod(0o644 if path.is_file() else 0o555)
    limit = f"fsize:{FSIZE_LIMIT}" if mode == "fsize" else "nobody"
    done = subprocess.run(
        [sys.executable, str(WRITER), limit, str(root / "out"), str(manifests)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(env, PYTHONDONTWRITEBYTECODE="1"),
        cwd="/",
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return Faulted(root, manifests, before, json.loads(done.stdout))


@pytest.fixture(scope="module")
def faulted(fault_env: dict[str, str]) -> Iterator[dict[str, Faulted]]:
    """Both faults, each in one child process that runs every writer (a child costs ~1 s)."""
    runs = {mode: faulted_run(mode, fault_env) for mode in ("fsize", "nobody")}
    try:
        yield runs
    finally:
        for run in runs.values():
            remove_workdir(run.root)


@pytest.mark.parametrize("mode", ["fsize", "nobody"])
@pytest.mark.parametrize("writer", ["history", "csv", "profiles", "cache"])
def test_a_failed_write_keeps_the_previous_file(
    writer: str, mode: str, faulted: dict[str, Faulted], record: Any
) -> None:
    run = faulted[mode]
    target = run.root / "out" / writer
    result = run.results[writer]
    assert contents(target) == run.before[writer], "the previous file changed, or a temporary file was left"
    expected = EXPECTED.get((writer, mode))
    if expected is None:  # the snapshot cache is best effort: a failed write costs the next start time
        assert result == {"error": None}
        outcome = "no error by design (best-effort cache); previous file intact, nothing left"
    else:
        error = result["error"]
        assert error is not None and error.startswith(expected.format(dir=target)), error
        assert error.count("\n") <= 1 and "Traceback" not in error, error
        if writer == "profiles":
            assert result["exit"] == 2 and result["stdout"] == ""
        if writer == "csv" and mode == "fsize":
            assert "File too large" in error, error
        outcome = f"one error ({error.strip()[:70]}); previous file intact, nothing left"
    # The space comes back (or the directory is writable again): the next write just works.
    if mode == "nobody":
        for path in [target, *target.rglob("*")]:
            path.chmod(0o644 if path.is_file() else 0o755)
    started = time.monotonic()
    again = WRITERS[writer](target, run.manifests, 5)
    recovered_s = time.monotonic() - started
    assert again.get("error") is None, again
    assert contents(target) != run.before[writer], "the next write replaced the previous file"
    fault = "full disk (RLIMIT_FSIZE, EFBIG)" if mode == "fsize" else "unwritable dir (uid 65534)"
    record(fault, f"{writer} writer", outcome, recovered_s, "the next write, once it can succeed")


def test_the_writers_do_not_follow_a_symlink_out_of_their_directory(tmp_path: Path) -> None:
    """A planted temporary-name symlink cannot redirect the atomic write (mkstemp never reuses names)."""
    from floe_tui.console.files import atomic_write_text

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "data" / "history.json"
    target.parent.mkdir()
    (target.parent / ".history.json.planted.tmp").symlink_to(victim)
    atomic_write_text(target, "new")
    assert victim.read_text() == "keep me" and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
