"""QueryHandle: one running statement, streamed in Arrow record batches.

A worker thread owns the engine connection for the life of the query: it acquires it, runs the
statement, and pushes batches into a small bounded queue, so memory stays flat however large
the result and however slowly the caller reads. Cancelling and timing out interrupt the query
*inside the engine* (the plugin's ``interrupt``), never only the Python wait.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from floe_tui.compute.errors import (
    ComputeError,
    QueryCancelledError,
    QueryError,
    QueryTimeoutError,
)
from floe_tui.compute.models import Column, QueryOutcome
from floe_tui.compute.telemetry import TargetTelemetry
from floe_tui.compute.watchdog import WATCHDOG

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("floe_tui.compute.query")
_QUEUE_BATCHES = 4
_INTERRUPT_FIRST_RETRY_S = 0.001
_INTERRUPT_RETRY_S = 0.05
_INTERRUPT_GIVE_UP_S = 10.0
_ids = itertools.count(1)
_WORKER_PREFIX = "floe-query-"
_running: weakref.WeakSet[QueryHandle] = weakref.WeakSet()


@atexit.register
def _cancel_running_at_exit() -> None:
    """Stop queries still running when the interpreter exits: an engine torn down mid-query aborts."""
    for handle in list(_running):
        handle.cancel()
    deadline = time.monotonic() + 2.0
    # Join the workers too, finished ones included: one still dropping its engine objects when
    # the interpreter goes away takes the process down with it.
    for thread in threading.enumerate():
        if thread.name.startswith(_WORKER_PREFIX):
            thread.join(max(0.0, deadline - time.monotonic()))


class ResultStream(Protocol):
    """A statement that an engine has started; batches are fetched on demand."""

    columns: list[Column]

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch, or None at the end."""

    def close(self) -> None:
        """Release the engine-side result early."""


class EngineConnection(Protocol):
    """One pooled connection as the query machinery sees it."""

    def run(self, sql: str, row_limit: int | None) -> ResultStream:
        """Start `sql`; `row_limit` is a hint the engine may push down (the handle enforces it)."""

    def interrupt(self) -> None:
        """Stop whatever runs on this connection; called from another thread; must not block."""


class QueryHandle:
    """Returned by ``ComputePlugin.execute`` at once; the query runs on a worker thread."""

    def __init__(
        self,
        sql: str,
        *,
        acquire: Callable[[], EngineConnection],
        release: Callable[[EngineConnection, bool], None],
        timeout_s: float,
        limit: int | None,
        telemetry: TargetTelemetry,
    ) -> None:
        if limit is not None and limit < 0:
            raise QueryError(f"limit must be 0 or more, not {limit}", "pass a positive row limit or none")
        if timeout_s <= 0:
            raise QueryError(f"timeout must be positive, not {timeout_s:g}", "pass a timeout in seconds")
        self.id = f"q{next(_ids)}"
        self.sql = sql
        self.timeout_s = timeout_s
        self.limit = limit
        self.columns: list[Column] = []
        self.rows = 0
        self.truncated = False
        self.error: ComputeError | None = None
        self._outcome = QueryOutcome.RUNNING
        self._acquire = acquire
        self._release = release
        self._telemetry = telemetry
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self._lock = threading.Lock()
        self._conn: EngineConnection | None = None
        self._stop_reason: QueryOutcome | None = None
        self._started = threading.Event()
        self._done = threading.Event()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        _running.add(self)
        self._worker = threading.Thread(target=self._run, name=f"{_WORKER_PREFIX}{self.id}", daemon=True)
        self._worker.start()

    # -- what callers read ---------------------------------------------------------------
    @property
    def outcome(self) -> QueryOutcome:
        return self._outcome

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        return (self._t_end or time.monotonic()) - self._t0

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until the statement runs in the engine (or the query ended)."""
        return self._started.wait(timeout)

    def wait(self, timeout: float | None = None) -> QueryOutcome:
        """Wait for the end without reading; unread batches are dropped so the engine is not held."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
            if deadline is not None and time.monotonic() >= deadline:
                break
        return self._outcome

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yield batches as they arrive; raise the query's error if it did not complete.

        Leaving the loop early cancels the query.
        """
        finished = False
        try:
            while True:
                try:
                    batch = self._queue.get(timeout=0.05)
                except queue.Empty:
                    finished = self._done.is_set() and self._queue.empty()
                    if finished:
                        break
                    continue
                if batch is None:
                    finished = True
                    break
                yield batch
        finally:
            if not finished:
                self.cancel()
        self.raise_for_outcome()

    def fetch_all(self) -> pa.Table:
        import pyarrow as pa

        batches = list(self.batches())
        if batches:
            return pa.Table.from_batches(batches)
        return pa.table({c.name: pa.array([], pa.null()) for c in self.columns})

    def raise_for_outcome(self) -> None:
        if self._outcome is not QueryOutcome.COMPLETED and self.error is not None:
            raise self.error

    # -- stopping ------------------------------------------------------------------------
    def cancel(self) -> None:
        self._stop(QueryOutcome.CANCELLED)

    def _on_timeout(self) -> None:
        self._stop(QueryOutcome.TIMED_OUT)

    def _stop(self, reason: QueryOutcome) -> None:
        with self._lock:
            if self._done.is_set() or self._stop_reason is not None:
                return
            self._stop_reason = reason
            if self._conn is None:
                return
            self._conn.interrupt()
        # An interrupt that lands just before the engine registers the statement is lost;
        # keep interrupting until the worker is out (bounded), off the caller's thread.
        threading.Thread(target=self._interrupt_until_done, daemon=True).start()

    def _interrupt_until_done(self) -> None:
        deadline = time.monotonic() + _INTERRUPT_GIVE_UP_S
        pause = _INTERRUPT_FIRST_RETRY_S  # soon at first: a lost interrupt should cost ~1 ms, not 50
        while not self._done.wait(pause) and time.monotonic() < deadline:
            pause = min(pause * 2, _INTERRUPT_RETRY_S)
            with self._lock:  # once released, the connection may already run someone else's query
                if self._conn is None:
                    return
                self._conn.interrupt()

    # -- the worker ------------------------------------------------------------------------
    def _run(self) -> None:
        conn: EngineConnection | None = None
        timer: int | None = None
        stream: ResultStream | None = None
        broken = False
        try:
            conn = self._acquire()
            with self._lock:
                self._conn = conn
                stopped_early = self._stop_reason is not None
            if stopped_early:
                return
            timer = WATCHDOG.schedule(self.timeout_s, self._on_timeout)
            self._started.set()
            stream = conn.run(self.sql, None if self.limit is None else self.limit + 1)
            self.columns = list(stream.columns)
            self._pump(stream)
        except ComputeError as exc:
            self.error = exc
            broken = exc.code.startswith("FLOE-C30")
        except Exception as exc:  # the engine's own error types: keep their message, drop the type
            self.error = QueryError(_engine_message(exc))
        finally:
            if timer is not None:
                WATCHDOG.cancel(timer)
            if stream is not None:
                _close_quietly(stream)
            stream = None
            self._settle(conn, broken)
            # Drop the engine objects before saying "done": a caller that then exits the
            # interpreter must not find them alive on this thread (DuckDB aborts at exit).
            conn = None
            self._announce()

    def _pump(self, stream: ResultStream) -> None:
        while self._stop_reason is None:
            batch = stream.next_batch()
            if batch is None:
                return
            if self.limit is not None and self.rows + batch.num_rows > self.limit:
                self.truncated = True
                batch = batch.slice(0, self.limit - self.rows)
            if batch.num_rows:
                self.rows += batch.num_rows
                self._put(batch)
            if self.truncated:
                return

    def _put(self, batch: pa.RecordBatch) -> None:
        while self._stop_reason is None:
            try:
                self._queue.put(batch, timeout=0.05)
                return
            except queue.Full:
                continue

    def _settle(self, conn: EngineConnection | None, broken: bool) -> None:
        """Fix the outcome and give the connection back."""
        with self._lock:
            reason = self._stop_reason
            if reason is not None:
                self._outcome = reason
                self.error = _stop_error(reason, self.timeout_s)
            elif self.error is not None:
                self._outcome = QueryOutcome.FAILED
            else:
                self._outcome = QueryOutcome.COMPLETED
            self._t_end = time.monotonic()
            self._conn = None
        if conn is not None:
            self._release(conn, broken)

    def _announce(self) -> None:
        self._telemetry.query_finished(self.elapsed_s, self._outcome.value)
        if self._outcome is QueryOutcome.TIMED_OUT:
            log.warning(
                "query timed out after %g s and was cancelled in the engine",
                self.timeout_s,
                extra={"event": "query.timed_out", "query_id": self.id, **self._telemetry.attributes},
            )
        self._started.set()
        self._done.set()
        _running.discard(self)
        with contextlib.suppress(queue.Full):  # a full queue is noticed by the reader's polling
            self._queue.put_nowait(None)


def _stop_error(reason: QueryOutcome, timeout_s: float) -> ComputeError:
    if reason is QueryOutcome.TIMED_OUT:
        return QueryTimeoutError(f"query timed out after {timeout_s:g} s")
    return QueryCancelledError("query cancelled")


def _engine_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def _close_quietly(stream: ResultStream) -> None:
    try:
        stream.close()
    except Exception as exc:  # releasing a finished result must not mask the query's outcome
        log.debug("closing a result stream failed: %s", type(exc).__name__)
