"""Measure the CPU an engine burns, to tell a stopped query from an abandoned one."""

from __future__ import annotations

import time

import psutil


class EngineCpu:
    """CPU of a process (this one by default) and every process below it (a JVM, a local server)."""

    def __init__(self, root: psutil.Process | None = None) -> None:
        self._root = root or psutil.Process()

    def _cpu_seconds(self) -> float:
        total = 0.0
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.Error:  # a child that just ended burns nothing
                continue
            total += times.user + times.system
        return total

    def cores_used(self, window_s: float = 0.3) -> float:
        """Average cores busy over the next `window_s` seconds."""
        before, started = self._cpu_seconds(), time.monotonic()
        time.sleep(window_s)  # measuring over a window is the point here, not waiting for a state
        return (self._cpu_seconds() - before) / (time.monotonic() - started)

    def wait_until_below(self, cores: float, deadline_s: float, window_s: float = 0.3) -> float:
        """Sample until usage falls under `cores` or the deadline passes; return the last sample."""
        deadline = time.monotonic() + deadline_s
        used = self.cores_used(window_s)
        while used >= cores and time.monotonic() < deadline:
            used = self.cores_used(window_s)
        return used

    def wait_until_above(self, cores: float, deadline_s: float, window_s: float = 0.3) -> float:
        deadline = time.monotonic() + deadline_s
        used = self.cores_used(window_s)
        while used < cores and time.monotonic() < deadline:
            used = self.cores_used(window_s)
        return used
