"""The engine's own share of an idle dashboard's polls: DuckDB reporting its memory, and nothing else.

``python -m bench._memory_readings_child TARGETS WINDOW_S`` opens TARGETS in-memory DuckDB targets
through the plugin and, on one thread per target as the monitor does, takes the reading a health
poll takes (``memory_stats()``) once a second for WINDOW_S. It prints the process's CPU over the
window as a fraction of a core: the floor under the dashboard's poll cost that no console code
can go below (no monitor, no messages, no painting).
"""

from __future__ import annotations

import sys
import threading
import time

from floe_tui.compute import ComputeConfig, ComputePlugin, ComputeRegistry


def main(targets: int, window_s: float) -> None:
    names = [f"duck_{n}" for n in range(targets)]
    shape = {"plugin": "duckdb", "connection": {"path": ":memory:", "threads": 1}}
    configs = [ComputeConfig.from_mapping({"name": n, **shape}) for n in names]
    registry = ComputeRegistry(configs, default=names[0])
    plugins = [registry.get(n) for n in names]
    for plugin in plugins:
        plugin.connect()
    stop = threading.Event()
    epoch = time.monotonic()

    def read(plugin: ComputePlugin) -> None:
        while not stop.wait(1.0 - ((time.monotonic() - epoch) % 1.0)):  # the monitor's shared beat
            plugin.memory_stats()

    threads = [threading.Thread(target=read, args=(p,), daemon=True) for p in plugins]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    started_cpu, started = time.process_time(), time.monotonic()
    time.sleep(window_s)
    cpu, wall = time.process_time() - started_cpu, time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    registry.close()
    print(f"{cpu / wall:.6f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
