"""Compile the manifests in a second process while Textual starts (no Textual here).

`floe-tui` starts ``python -m floe_tui.tui.snapshot PATH`` before it imports Textual, so loading
the compiler and reading the manifests run on the other core instead of taking turns with
Textual's own start-up on this process's GIL. The first tree is painted from that snapshot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from floe_tui.tui.snapshot import LightPlan


class PlanPrefetch:
    def __init__(self, manifests: Path) -> None:
        self.manifests = manifests
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "floe_tui.tui.snapshot", str(manifests)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # never onto the console's terminal
            )
        except OSError:
            self._process = None

    def result(self, timeout: float = 30.0) -> LightPlan | None:
        """The snapshot, or None if the helper failed (the console then compiles by itself).

        Blocks: call it on a worker thread, never the UI's.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        if process.returncode != 0:
            return None
        from floe_tui.tui.snapshot import load

        try:
            return load(json.loads(out))
        except (ValueError, KeyError, TypeError):
            return None

    def cancel(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
