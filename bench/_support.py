"""Helpers shared by the benchmark modules (not a benchmark itself: the name starts with ``_``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import Skip

#: Long enough that no benchmark query ends on its own while we watch it.
ENDLESS_SQL = "SELECT count(*) FROM range(10000000000) a"
QUERY_THREAD_PREFIX = "floe-query-"


@contextmanager
def duckdb_target(
    *,
    pool: dict[str, Any] | None = None,
    query_timeout_s: float = 300.0,
    warm: bool = True,
    **connection: Any,
) -> Iterator[Any]:
    """A connected in-memory DuckDB target, built the way a user would: config -> registry -> plugin.

    With `warm`, one query has run before the target is handed out: DuckDB imports pyarrow on the
    first Arrow result (about 70-150 ms here), a one-off that only the streaming benchmark measures.
    """
    from floe_tui.compute import ComputeConfig, ComputeRegistry, PluginNotInstalledError

    config = ComputeConfig.from_mapping(
        {
            "name": "duckdb",
            "connection": {"path": ":memory:", **connection},
            "pool": pool or {},
            "query_timeout_s": query_timeout_s,
        }
    )
    try:
        registry = ComputeRegistry([config], default="duckdb")
    except PluginNotInstalledError as exc:
        raise Skip(f"the DuckDB plugin is not installed ({exc.code})") from None
    plugin = registry.get("duckdb")
    plugin.connect()
    try:
        if warm:
            plugin.execute("SELECT 1", timeout=60).fetch_all()
        yield plugin
    finally:
        plugin.disconnect()
        join_query_threads()


def join_query_threads(timeout: float = 5.0) -> None:
    """Wait for query worker threads that are still tearing down after their handle is done.

    A handle reports ``done`` before its worker thread has released its last objects (the Arrow
    reader of the result). If the interpreter exits in that window the daemon thread is killed
    while it retakes the GIL inside a C++ destructor and the process aborts (SIGABRT). The core's
    exit hook does not wait for these threads, so the benchmarks do.
    """
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(QUERY_THREAD_PREFIX) and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


class CaptureEvents(logging.Handler):
    """Collect the ``event`` attribute of records a logger writes (and keep them off stderr)."""

    def __init__(self, logger_name: str) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[str] = []
        self._logger = logging.getLogger(logger_name)

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(str(getattr(record, "event", "")))

    def __enter__(self) -> CaptureEvents:
        self._logger.addHandler(self)
        self._propagate = self._logger.propagate
        self._logger.propagate = False
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
