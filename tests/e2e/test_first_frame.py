"""The console's first frame, as its terminal receives it: a pty of our own plays the terminal.

The test answers Textual's query for synchronized output (mode 2026) as tmux and most terminals
do, so each frame arrives between the begin (BSU) and end (ESU) marks and the first one can be
read on its own. tmux's `capture-pane` could not tell a first frame from a later one.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

BSU, ESU = "\x1b[?2026h", "\x1b[?2026l"
SYNC_QUERY, SYNC_SUPPORTED = "\x1b[?2026$p", "\x1b[?2026;2$y"
CTRL_Q = "\x11"
TREE = ("finance", "marketing", "sales")


class PtyTerminal:
    """`floe-tui` on a 120x40 pty whose other end this object reads and answers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "floe_tui.cli"],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            cwd=env["HOME"],
            start_new_session=True,
        )
        os.close(follower)
        self.output = ""
        self._answered = False

    def read_until(self, predicate: Callable[[str], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.output):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {what}; the last output: {self.output[-400:]!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.output += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the console closed the pty
                    return
            if not self._answered and SYNC_QUERY in self.output:
                os.write(self.master, SYNC_SUPPORTED.encode())
                self._answered = True

    def frames(self) -> list[str]:
        """The frames received so far: what came between a BSU and its ESU, empty ones left out."""
        found = []
        for chunk in self.output.split(BSU)[1:]:
            frame, ended, _ = chunk.partition(ESU)
            if ended and frame:
                found.append(frame)
        return found

    def quit(self) -> None:
        os.write(self.master, CTRL_Q.encode())
        deadline = time.monotonic() + 10
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read_until(lambda _: True, 0.1, "the output")  # keep reading: a full pty blocks it
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    os.read(self.master, 65536)
                except OSError:
                    break
        assert self.process.wait(5) == 0
        os.close(self.master)


@pytest.fixture
def console_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "TMUX", "NO_COLOR"))}
    env.update(
        {
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "TERM": "xterm-256color",
        }
    )
    return env


def test_the_first_frame_the_terminal_receives_shows_the_whole_tree(console_env: dict[str, str]) -> None:
    """With the snapshot cached by an earlier launch, the first frame the terminal receives holds
    the tree, the title and the panes: no "loading" frame, and no frame lost on the way (Textual
    drops a frame rendered inside its start-up batch of updates; the console renders none there,
    so this one is painted once the batch ends)."""
    first = PtyTerminal(console_env)
    first.read_until(lambda out: all(name in out for name in TREE), 30, "the tree of the first launch")
    snapshots = Path(console_env["XDG_CACHE_HOME"]) / "floe-tui" / "snapshots"
    deadline = time.monotonic() + 30
    while not any(snapshots.glob("*.json")):
        assert time.monotonic() < deadline, "the first launch cached no snapshot"
        time.sleep(0.02)
    first.quit()

    second = PtyTerminal(console_env)
    second.read_until(lambda _: bool(second.frames()), 30, "the first frame")
    frame = second.frames()[0]
    assert all(name in frame for name in TREE), f"the first frame lacks the tree: {frame[:400]!r}"
    assert "governance" in frame and "╭" in frame  # the title and the panes' borders came with it
    second.quit()
