"""What the two engines behind a Spark target share: a classic session in this process, or Spark Connect.

Classic (:mod:`floe_compute_spark.classic`): the target's own SparkSession on the process's one JVM
and SparkContext (:mod:`floe_compute_spark.jvm`). Spark Connect (:mod:`floe_compute_spark.connect`):
the target's own session on a Spark Connect server. Both are checked before they start
(:mod:`floe_compute_spark.preflight`).

The plugin and its slots use either engine through :class:`SparkEngine` only, and a slot runs a
query by the engine's ``mode``. Jobs are stopped per query (a job group, classic; a tag, Spark
Connect); cancels are sent by one :class:`Canceller` thread per engine, so ``interrupt()`` never
blocks its caller.

None of these modules imports pyspark at import (validating a manifest must not): the plugin
imports the engine module it needs when a target connects, and pyspark is imported only then.
"""

from __future__ import annotations

import logging
import queue
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("floe_compute_spark")

# Every engine module imports this one, so these are in place before pyspark is imported.
# pyspark warns once per process that it does not yet support pandas 3; nothing here uses pandas.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
# The Connect client warns on stderr when it gives up retrying; the error itself is reported.
warnings.filterwarnings("ignore", message=r"\[RETRIES_EXCEEDED\]", category=UserWarning)


@dataclass(frozen=True)
class ExecutorMemory:
    """One block manager (the driver or an executor): Spark's storage memory, as the Spark UI shows."""

    executor_id: str
    used_bytes: int
    max_bytes: int
    disk_bytes: int


class Canceller:
    """One daemon thread that sends cancels, so that whoever cancels never waits on the engine."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, action: Callable[[], None]) -> None:
        self._queue.put(action)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            action = self._queue.get()
            if action is None:
                return
            try:
                action()
            except Exception as exc:  # a cancel that finds nothing to stop is not an error
                log.debug("a Spark cancel failed: %s", type(exc).__name__)


class SparkEngine(Protocol):
    """A target's engine, as the plugin and its slots use it: a classic session or a Connect session.

    One per connected target; its pooled connections (slots) share its session. A call may block
    while Spark does not answer; its callers bound it: ``open`` and ``ensure_open`` by `deadline`
    (within the core's ``connect_timeout_s``), ``failure`` by the health check's timeout
    (``engine_failure``) or the pool's bounded ``check_connection``.
    """

    @property
    def mode(self) -> Literal["classic", "connect"]:
        """How a slot runs a query: "classic" on a ClassicEngine, "connect" on a ConnectEngine."""
        ...

    @property
    def target(self) -> str:
        """The target's name, as the slots' job group and tag labels carry it."""
        ...

    @property
    def description(self) -> str:
        """What answers for the target, for messages: "the Spark JVM (master local[2])"."""
        ...

    def open(self, deadline: float) -> None:
        """Start (or join) the engine and open the target's session by `deadline` (monotonic)."""
        ...

    def ensure_open(self, deadline: float) -> None:
        """Reopen the session if the JVM or the server went away since; a no-op while it answers."""
        ...

    def failure(self) -> str | None:
        """None while the engine answers; else why it does not ("not connected" before `open`)."""
        ...

    def close(self) -> None:
        """Release the session (a classic target's last close stops the JVM); idempotent."""
        ...

    def cancel(self, label: str, /) -> None:
        """Stop the Spark jobs of the query run under `label` (job group or tag); never blocks."""
        ...

    def memory(self) -> list[ExecutorMemory] | None:
        """Storage memory of the driver and every executor; None when it cannot be read."""
        ...
