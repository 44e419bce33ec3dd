"""Helpers for tests of Spark targets: count the Java processes a test leaves, wait on conditions.

The plugin's own tests use them, and so can a project's tests of its Spark targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

#: The command-line marks of the two kinds of Spark JVM this plugin starts.
CLASSIC_MARK = "pyspark-shell"
CONNECT_SERVER_MARK = "SparkConnectServer"


def java_processes(mark: str | None = None) -> list[psutil.Process]:
    """Java processes below this one (optionally: whose command line holds `mark`)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() != "java":
                continue
            if mark is None or any(mark in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:  # it ended while we looked
            continue
    return found


def wait_for(condition: Callable[[], Any], deadline_s: float = 60.0, step_s: float = 0.01) -> bool:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step_s)  # polling a state that has no event to wait on
    return True
