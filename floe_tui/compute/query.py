"""QueryHandle: one running statement, streamed in Arrow record batches.

A worker thread owns the engine connection for the life of the query: it acquires it, runs the
statement, and pushes batches into a small bounded queue, so memory stays flat however large
the result and however slowly the caller reads. Cancelling and timing out interrupt the query
*inside the engine* (the plugin's ``interrupt``), never only the Python wait.

The timeout runs from ``execute()``: waiting for a pooled connection counts. A query stopped
while it still waits ends at once. One whose engine call stays blocked after the interrupt is
settled by the core 1 s after the stop (``stop_confirmed`` False): its connection is retired and
its thread abandoned, so neither the caller nor the interpreter's exit waits on a hung client.
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
from floe_tui.compute.models import Column, QueryOutcome, QueryStats
from floe_tui.compute.pool import Lease
from floe_tui.compute.telemetry import TargetTelemetry
from floe_tui.compute.watchdog import WATCHDOG

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("floe_tui.compute.query")
_QUEUE_BATCHES = 4
_INTERRUPT_FIRST_RETRY_S = 0.001
_INTERRUPT_RETRY_S = 0.05
_INTERRUPT_GIVE_UP_S = 10.0
#: How long a stopped query's engine call may stay blocked before the core settles without it.
SETTLE_AFTER_STOP_S = 1.0
_CLOCK_SLACK_S = 0.01
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
    """A statement that an engine has started; batches are fetched on demand.

    A stream may also define ``stats() -> QueryStats | None``: what the engine reported about the
    finished statement (bytes processed and billed, query id). The handle reads it after the last
    batch, as ``QueryHandle.stats``.
    """

    columns: list[Column]

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch, or None at the end."""

    def close(self) -> None:
        """Release the engine-side result early."""


class EngineConnection(Protocol):
    """One pooled connection as the query machinery sees it."""

    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> ResultStream:
        """Start `sql`; `row_limit` is a hint the engine may push down (the handle enforces it).

        `timeout_s` is the query's own timeout, for an engine-side backstop (a statement timeout
        of a little more): the core's deadline and interrupt still stop the query on time.
        """

    def interrupt(self) -> None:
        """Stop whatever runs on this connection.

        Called on a core thread, never the caller's, and repeated until the run ends (an interrupt
        that lands before the engine registers the statement is lost); it may send a request.
        """


class QueryHandle:
    """Returned by ``ComputePlugin.execute`` at once; the query runs on a worker thread."""

    def __init__(
        self,
        sql: str,
        *,
        acquire: Callable[[float], Lease[EngineConnection]],
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
        #: After a cancel or timeout: did the engine call return once interrupted? None: not stopped.
        self.stop_confirmed: bool | None = None
        #: What the engine reported about the finished query, if anything.
        self.stats: QueryStats | None = None
        self._outcome = QueryOutcome.RUNNING
        self._acquire = acquire
        self._telemetry = telemetry
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self._lock = threading.Lock()
        # Held while an interrupt is in flight; the worker takes it before it gives the lease back,
        # so a late interrupt never reaches the next query on the same connection.
        self._interrupting = threading.Lock()
        self._lease: Lease[EngineConnection] | None = None
        self._stop_reason: QueryOutcome | None = None
        self._settled = False
        self._started = threading.Event()
        self._done = threading.Event()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        _running.add(self)
        self._timer = WATCHDOG.schedule(timeout_s, self._on_timeout)
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
            if self._settled or self._stop_reason is not None:
                return
            self._stop_reason = reason
            waiting = self._lease is None  # still waiting for a connection: nothing runs yet
            if waiting:
                self._settle_locked(confirmed=True)
        if waiting:
            self._announce()
            return
        threading.Thread(target=self._interrupt_until_done, name="floe-interrupt", daemon=True).start()
        WATCHDOG.schedule(SETTLE_AFTER_STOP_S, self._abandon)

    def _interrupt_until_done(self) -> None:
        """Interrupt, and again until the worker is out (bounded): an early interrupt can be lost."""
        deadline = time.monotonic() + _INTERRUPT_GIVE_UP_S
        pause = _INTERRUPT_FIRST_RETRY_S  # soon at first: a lost interrupt should cost ~1 ms, not 50
        while True:
            with self._interrupting:
                with self._lock:
                    lease = None if self._settled else self._lease
                if lease is None:
                    return
                try:
                    lease.connection.interrupt()
                except Exception as exc:  # the engine refused the interrupt: the settle step still holds
                    log.debug("interrupting a query failed: %s", type(exc).__name__)
            if self._done.wait(pause) or time.monotonic() >= deadline:
                return
            pause = min(pause * 2, _INTERRUPT_RETRY_S)

    def _abandon(self) -> None:
        """The engine call is still blocked a while after the stop: settle without it."""
        with self._lock:
            if self._settled:
                return
            lease = self._lease
            self._settle_locked(confirmed=False)
        log.warning(
            "query %s: the engine did not confirm it stopped; its connection is retired",
            self.id,
            extra={"event": "query.stop_unconfirmed", "query_id": self.id, **self._telemetry.attributes},
        )
        self._worker.name = f"floe-abandoned-{self.id}"  # the exit hook joins query workers: not this one
        if lease is not None:  # closing a hung connection may block too: not on the watchdog thread
            threading.Thread(target=lease.invalidate, name="floe-retire", daemon=True).start()
        self._announce()

    # -- the worker ------------------------------------------------------------------------
    def _run(self) -> None:
        lease: Lease[EngineConnection] | None = None
        stream: ResultStream | None = None
        error: ComputeError | None = None
        try:
            lease = self._acquire(max(0.0, self.timeout_s - self.elapsed_s))
            with self._lock:
                if self._settled:  # stopped while we waited for the connection
                    lease.release()
                    return
                self._lease = lease
                stopped_early = self._stop_reason is not None
            if stopped_early:
                return
            self._started.set()
            row_limit = None if self.limit is None else self.limit + 1
            stream = lease.connection.run(self.sql, row_limit, self.timeout_s)
            self.columns = list(stream.columns)
            if self._pump(stream):
                self.stats = _reported_stats(stream)
        except ComputeError as exc:
            if lease is None and self.elapsed_s >= self.timeout_s - _CLOCK_SLACK_S:
                self._on_timeout()  # the wait for a connection used up the query's own time
            error = exc
        except Exception as exc:  # the engine's own error types: keep their message, drop the type
            error = QueryError(_engine_message(exc))
        finally:
            if stream is not None:
                _close_quietly(stream)
            stream = None
            announce = self._finish(lease, error)
            # Drop the engine objects before saying "done": a caller that then exits the
            # interpreter must not find them alive on this thread (DuckDB aborts at exit).
            lease = None
            if announce:
                self._announce()

    def _pump(self, stream: ResultStream) -> bool:
        """Move batches to the queue; True when the stream ended or the limit was reached."""
        while self._stop_reason is None:
            batch = stream.next_batch()
            if batch is None:
                return True
            if self.limit is not None and self.rows + batch.num_rows > self.limit:
                self.truncated = True
                batch = batch.slice(0, self.limit - self.rows)
            if batch.num_rows:
                self.rows += batch.num_rows
                self._put(batch)
            if self.truncated:
                return True
        return False

    def _put(self, batch: pa.RecordBatch) -> None:
        while self._stop_reason is None:
            try:
                self._queue.put(batch, timeout=0.05)
                return
            except queue.Full:
                continue

    def _finish(self, lease: Lease[EngineConnection] | None, error: ComputeError | None) -> bool:
        """The worker is out of the engine: fix the outcome (unless the core settled already).

        True when the caller is the one to announce the end (the core did not settle first).
        """
        with self._lock:
            settled_before = self._settled
            if not settled_before:
                self.error = error
                self._settle_locked(confirmed=True)
            abandoned = self.stop_confirmed is False  # the core retires that lease itself
        if lease is not None and not abandoned:
            with self._interrupting:  # an interrupt in flight lands before anyone else gets the lease
                pass
            if error is not None and error.breaks_connection:
                lease.invalidate()
            else:
                lease.release()
        return not settled_before

    def _settle_locked(self, *, confirmed: bool) -> None:
        """Fix the outcome, once; the caller holds the lock and announces afterwards."""
        reason = self._stop_reason
        if reason is not None:
            self._outcome = reason
            self.error = _stop_error(reason, self.timeout_s)
            self.stop_confirmed = confirmed
        elif isinstance(self.error, QueryTimeoutError):  # the engine's own backstop stopped it
            self._outcome = QueryOutcome.TIMED_OUT
        elif isinstance(self.error, QueryCancelledError):  # stopped in the engine by someone else
            self._outcome = QueryOutcome.CANCELLED
        elif self.error is not None:
            self._outcome = QueryOutcome.FAILED
        else:
            self._outcome = QueryOutcome.COMPLETED
        self._t_end = time.monotonic()
        self._settled = True
        self._lease = None

    def _announce(self) -> None:
        WATCHDOG.cancel(self._timer)
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


def _reported_stats(stream: ResultStream) -> QueryStats | None:
    report = getattr(stream, "stats", None)
    if not callable(report):
        return None
    try:
        stats = report()
    except Exception as exc:  # figures about a query that completed must not fail it
        log.debug("reading a query's statistics failed: %s", type(exc).__name__)
        return None
    return stats if isinstance(stats, QueryStats) else None


def _close_quietly(stream: ResultStream) -> None:
    try:
        stream.close()
    except Exception as exc:  # releasing a finished result must not mask the query's outcome
        log.debug("closing a result stream failed: %s", type(exc).__name__)
