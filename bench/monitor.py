"""``floe-tui monitor`` left alone: the headless monitor's idle cost, beside the console's (console.idle).

- ``monitor.idle``: CPU of the `monitor` process polling the console benchmark's in-memory DuckDB
  targets (5) every 1 s, so the two figures compare.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, benchmark, measured
from bench.console import IDLE_TARGETS, IDLE_WINDOW_S, cores_used, targets_manifest

FLOE_TUI = Path(sys.executable).parent / "floe-tui"


@benchmark("monitor.idle")
def idle_cpu() -> list[Row]:
    """CPU of `floe-tui monitor` polling 5 DuckDB targets every 1 s (JSON lines to a pipe)."""
    with tempfile.TemporaryDirectory() as scratch:
        manifests = Path(scratch)
        (manifests / "enterprise.yaml").write_text(targets_manifest(IDLE_TARGETS))
        process = subprocess.Popen(
            [str(FLOE_TUI), "monitor", "-m", str(manifests), "--interval", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            healthy: set[str] = set()
            deadline = time.monotonic() + 60
            while len(healthy) < IDLE_TARGETS and time.monotonic() < deadline:
                line = process.stdout.readline()
                if '"status": "healthy"' in line:
                    healthy.add(line.split('"target": "')[1].split('"')[0])
            if len(healthy) < IDLE_TARGETS:
                raise RuntimeError(f"the monitor did not report {IDLE_TARGETS} healthy targets within 60 s")
            time.sleep(3.0)  # past the connect and first polls
            used = cores_used(process.pid, IDLE_WINDOW_S)
        finally:
            process.terminate()
            process.wait(10)
    return [
        measured(
            f"floe-tui monitor: idle CPU, {IDLE_TARGETS} targets polled every 1 s "
            f"({IDLE_WINDOW_S:g} s window)",
            used * 100,
            "% of a core",
            digits=2,
        )
    ]
