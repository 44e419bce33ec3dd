"""A classic Spark target: its own SparkSession on the process's JVM.

Each classic target gets its own SparkSession on the process's SparkContext
(:class:`~floe_compute_spark.jvm.ClassicRuntime`) with ``newSession()``: its own SQL settings,
temporary views and functions; shared cached data and catalog. Settings Spark can change at run
time (SQL settings, catalogs) are applied to the target's own session, so two targets do not see
each other's; settings Spark fixes at start-up must agree between the targets of a process.

Jobs are stopped per query: a query runs under a job group that is set in the thread that runs it
(``setJobGroup``, a thread-local property inherited by the driver thread that serves the result)
and cancelled from another thread (``cancelJobGroup``), by the runtime's canceller thread.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from floe_compute_spark.config import SparkConnection
from floe_compute_spark.engine import ExecutorMemory
from floe_compute_spark.errors import conf_error
from floe_compute_spark.jvm import ClassicRuntime
from floe_compute_spark.preflight import preflight


class ClassicEngine:
    """A classic target: its own SparkSession on the process's runtime."""

    mode: Literal["classic"] = "classic"

    def __init__(self, target: str, connection: SparkConnection) -> None:
        self.target = target
        self.connection = connection
        self.runtime = ClassicRuntime.get()
        self.session: Any = None
        self.generation = -1
        self._lock = threading.Lock()
        self._attached = False

    @property
    def description(self) -> str:
        return f"the Spark JVM (master {self.connection.effective_master})"

    def open(self, deadline: float) -> None:
        preflight(self.connection, deadline)
        generation = self.runtime.attach(self, self.connection, deadline)
        self._attached = True
        try:
            self._new_session(generation)
        except BaseException:
            self.close()
            raise

    def _new_session(self, generation: int) -> None:
        runtime = self.runtime
        session = runtime.root.newSession()
        for key, value in self.connection.conf.items():
            if runtime.is_modifiable(key):
                try:
                    session._jsparkSession.conf().set(key, value)
                except Exception as exc:
                    raise conf_error(key, exc) from None
        # Run-time settings another target started the runtime with are not ours: back to defaults.
        for key in runtime.launch_conf.keys() - self.connection.conf.keys():
            if runtime.is_modifiable(key):
                session._jsparkSession.conf().unset(key)
        self.session, self.generation = session, generation

    def ensure_open(self, deadline: float) -> None:
        """Reconnect after the JVM died: restart it (once for every target) and open a new session."""
        with self._lock:
            if self.generation == self.runtime.generation and self.failure() is None:
                return
            generation = self.runtime.revive(deadline)
            self._new_session(generation)

    def failure(self) -> str | None:
        if not self._attached:
            return "not connected"
        reason = self.runtime.failure()
        if reason is None and self.generation != self.runtime.generation:
            return "the Spark JVM was restarted"
        return reason

    def close(self) -> None:
        if self._attached:
            self._attached = False
            self.session = None
            self.runtime.detach(self)

    def cancel(self, group: str) -> None:
        canceller, context = self.runtime.canceller, self.runtime.context
        if canceller is not None and context is not None:
            canceller.submit(lambda: context._jsc.cancelJobGroup(group))

    def memory(self) -> list[ExecutorMemory] | None:
        context = self.runtime.context
        if context is None:
            return None
        summaries = context._jsc.sc().statusStore().executorList(True)
        found = []
        for index in range(summaries.size()):
            item = summaries.apply(index)
            found.append(
                ExecutorMemory(
                    str(item.id()), int(item.memoryUsed()), int(item.maxMemory()), int(item.diskUsed())
                )
            )
        return found
