"""A database file held open for writing by another process."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, DatabaseLockedError

Target = Callable[..., ComputeConfig]
# Opens the file for writing, says so on stdout, and keeps it open until its stdin closes.
HOLDER = (
    "import sys, duckdb\n"
    "db = duckdb.connect(sys.argv[1])\n"
    "db.execute('CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS i')\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def wait_for_line(process: subprocess.Popen[str], deadline_s: float) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], deadline_s)
    assert readable, f"the holder process said nothing within {deadline_s:g} s"
    return process.stdout.readline().strip()


@pytest.fixture
def held_file(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with holder:  # closes its pipes at the end
        try:
            assert wait_for_line(holder, deadline_s=30) == "ready"
            yield path, holder
        finally:
            release(holder)


def release(holder: subprocess.Popen[str]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(10)


def test_file_held_by_another_process_is_locked_error(
    held_file: tuple[Path, subprocess.Popen[str]], target: Target
) -> None:
    path, holder = held_file
    plugin = DuckDBComputePlugin(target({"path": str(path)}))

    started = time.monotonic()
    with pytest.raises(DatabaseLockedError) as caught:
        plugin.connect()

    assert time.monotonic() - started < 5
    error = caught.value
    assert error.code == "FLOE-C302"
    assert f"locked by process {holder.pid}" in error.message
    assert "Traceback" not in str(error) and "\n" not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_failed_connect_on_a_locked_file_leaves_no_connection(
    held_file: tuple[Path, subprocess.Popen[str]], target: Target
) -> None:
    path, _ = held_file
    plugin = DuckDBComputePlugin(target({"path": str(path)}))

    with pytest.raises(DatabaseLockedError):
        plugin.connect()

    stats = plugin.pool_stats()
    assert (stats.size, stats.in_use, stats.idle, stats.created) == (0, 0, 0, 0)
    assert not plugin.is_connected


def test_read_only_does_not_get_past_a_writer_and_says_so(
    held_file: tuple[Path, subprocess.Popen[str]], target: Target
) -> None:
    path, _ = held_file
    plugin = DuckDBComputePlugin(target({"path": str(path), "read_only": True}))

    with pytest.raises(DatabaseLockedError) as caught:
        plugin.connect()

    assert "read_only" not in caught.value.hint


def test_connect_succeeds_once_the_other_process_lets_go(
    held_file: tuple[Path, subprocess.Popen[str]], target: Target
) -> None:
    path, holder = held_file
    plugin = DuckDBComputePlugin(target({"path": str(path)}))
    with pytest.raises(DatabaseLockedError):
        plugin.connect()

    release(holder)
    with plugin:
        assert plugin.execute("SELECT i FROM t", timeout=10).fetch_all().to_pylist() == [{"i": 1}]
