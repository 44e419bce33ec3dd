"""The installed `floe-tui`, in a real terminal (tmux), used as a person would.

A fresh data directory (XDG_DATA_HOME in tmp_path), the bundled sample hierarchy, keys typed
with `send-keys` and the screen read with `capture-pane`. The test checks what is on screen and
that cancelling really stopped the engine: the console's CPU falls back once `cancelled` shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from floe_tui.testing.cpu import EngineCpu

FLOE_TUI = Path(sys.executable).parent / "floe-tui"
LONG_QUERY = (
    "SELECT count(*) AS pairs, sum(a.range * b.range) AS checksum "
    "FROM range(100000000) a, range(1000) b WHERE (a.range + b.range) % 7 = 3"
)


class Terminal:
    """One tmux server of our own (its own socket), one window of 120x40."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        run = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return run.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "console")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "console", *(["-l"] if literal else []), *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; the screen:\n{screen}")
            time.sleep(0.01)  # polling capture-pane with a deadline, not a fixed wait


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    assert shutil.which("tmux"), "tmux is needed for the end-to-end test"
    assert FLOE_TUI.exists(), f"{FLOE_TUI}: install the project first (make install)"
    term = Terminal(f"floe-e2e-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "TMUX", "NO_COLOR"))}
    env.update({"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path), "TERM": "xterm-256color"})
    command = f"exec {FLOE_TUI}"
    subprocess.run(
        [
            "tmux",
            "-L",
            term.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "console",
            "-x",
            "120",
            "-y",
            "40",
            command,
        ],
        env=env,
        check=True,
        timeout=10,
    )
    term.tmux("set-option", "-g", "escape-time", "0")  # tmux itself would hold escape for 500 ms
    socket_path = term.tmux("display-message", "-p", "#{socket_path}").strip()
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=10)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


def status_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if line.lstrip().startswith("run ")), "")


def history_entries(tmp_path: Path, count: int) -> list[dict[str, object]]:
    """The query history in the fresh data directory, once it holds `count` finished entries."""
    history = tmp_path / "xdg" / "floe-tui" / "history.json"
    deadline = time.monotonic() + 5
    while True:
        entries = json.loads(history.read_text())["entries"] if history.exists() else []
        if len(entries) >= count and entries[-1]["outcome"] not in ("", "running"):
            return list(entries)
        assert time.monotonic() < deadline, f"the history was not written: {entries}"
        time.sleep(0.02)


def test_a_query_typed_and_run_in_one_send_keys_runs_in_full(terminal: Terminal, tmp_path: Path) -> None:
    """Text and F5 in one `send-keys` reach the console in one burst: F5 runs every character."""
    terminal.wait_for(lambda s: "sales" in s and "finance" in s, 15, "the governance tree")
    console = psutil.Process(int(terminal.tmux("display-message", "-p", "-t", "console", "#{pane_pid}")))
    terminal.keys("3")
    terminal.wait_for(lambda s: "compute" in s and "timeout s" in s and "ready" in s, 10, "the query screen")
    # Long enough that the keys arrive over several reads of the terminal: with the run key a
    # priority binding, F5 ran whatever part of this the editor had taken in by then.
    columns = "".join(f", {n} AS c{n}" for n in range(60))
    sql = f"SELECT 42 AS answer, 'the whole statement ran' AS note{columns}"
    terminal.keys(sql, "F5")  # one tmux command: the characters, then the key
    screen = terminal.wait_for(
        lambda s: status_line(s).endswith(("completed", "failed")), 60, "the run's outcome"
    )
    line = status_line(screen).strip()
    assert line.startswith("run 1 · duckdb") and line.endswith("1 rows · completed"), line
    assert "the whole statement ran" in screen
    assert history_entries(tmp_path, 1)[-1]["sql"] == sql
    terminal.keys("C-q")
    console.wait(timeout=10)  # gone before the next test starts its own console


def wakeups_per_s(console: psutil.Process, window_s: float) -> float:
    """How often the console's threads woke up (voluntary context switches) over `window_s`."""

    def switches() -> int:
        return sum(
            int(line.split()[1])
            for task in Path(f"/proc/{console.pid}/task").iterdir()
            for line in (task / "status").read_text().splitlines()
            if line.startswith("voluntary_ctxt_switches")
        )

    before = switches()
    time.sleep(window_s)  # the measurement window itself, not a wait for something to happen
    return (switches() - before) / window_s


def test_an_idle_console_sleeps_until_a_key_comes_and_still_quits_at_once(terminal: Terminal) -> None:
    """Left alone on the governance screen, the console wakes about once a second (the manifest
    watcher), not ten times (the terminal driver's input slices); keys and ctrl+q still work."""
    terminal.wait_for(lambda s: "sales" in s and "finance" in s, 15, "the governance tree")
    console = psutil.Process(int(terminal.tmux("display-message", "-p", "-t", "console", "#{pane_pid}")))
    deadline = time.monotonic() + 15  # start-up work (the plan compile) settles first
    rate = wakeups_per_s(console, 1.0)
    while rate >= 3 and time.monotonic() < deadline:
        rate = wakeups_per_s(console, 1.0)
    assert rate < 3, f"the idle console woke {rate:.0f} times a second"

    terminal.keys("?")  # after a long sleep, a key is read at once
    terminal.wait_for(lambda s: "ctrl+q" in s.lower() and "help" in s.lower(), 5, "the help screen")
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "sales" in s and "finance" in s, 5, "the governance tree again")
    pressed = time.monotonic()
    terminal.keys("C-q")
    console.wait(timeout=10)
    assert time.monotonic() - pressed < 5, "ctrl+q should end the console within its quit budget"


def test_type_a_long_query_escape_reads_cancelled_and_the_engine_stops(
    terminal: Terminal, tmp_path: Path
) -> None:
    # The title and the tree are painted in one handler, but a capture may fall between two frames.
    painted = lambda s: "sales" in s and "finance" in s and "floe-tui · governance · acme" in s  # noqa: E731
    terminal.wait_for(painted, 15, "the governance tree under its title")
    console = psutil.Process(int(terminal.tmux("display-message", "-p", "-t", "console", "#{pane_pid}")))
    assert "floe-tui" in " ".join(console.cmdline())

    terminal.keys("3")
    terminal.wait_for(lambda s: "compute" in s and "timeout s" in s and "ready" in s, 10, "the query screen")
    terminal.keys(LONG_QUERY, literal=True)
    terminal.wait_for(lambda s: "(a.range + b.range) % 7 = 3" in s, 10, "the typed query")
    terminal.keys("F5")
    terminal.wait_for(
        lambda s: "running" in status_line(s) and "run 1 · duckdb" in s, 60, "the query running"
    )
    # The engine takes a moment to spread over its threads after `running` shows, and a moment
    # to wind down after `cancelled`: both are waits with a deadline, not one fixed window.
    cpu = EngineCpu(console)
    busy = cpu.wait_until_above(0.5, deadline_s=20)
    assert busy > 0.5, f"the query should keep the engine busy, used {busy:.2f} cores"

    pressed = time.monotonic()
    terminal.keys("Escape")
    screen = terminal.wait_for(
        lambda s: status_line(s).endswith("cancelled"), 5, "`cancelled` in the status line"
    )
    latency = time.monotonic() - pressed
    assert latency < 1.0, f"escape -> cancelled took {latency:.3f} s"
    idle = cpu.wait_until_below(0.1, deadline_s=5)
    assert idle < 0.1, f"the engine kept working after the cancel: {idle:.2f} cores"
    assert "run 1 · duckdb" in status_line(screen)
    print(f"escape -> cancelled {latency * 1000:.0f} ms; console CPU {busy:.2f} -> {idle:.2f} cores")

    # The run is in the history, in the fresh data directory (XDG_DATA_HOME).
    entry = history_entries(tmp_path, 1)[-1]
    assert entry["sql"] == LONG_QUERY and entry["outcome"] == "cancelled" and entry["target"] == "duckdb"

    terminal.keys("C-q")
    console.wait(timeout=10)  # it exits (ctrl+q) within its quit budget; raises if it does not
