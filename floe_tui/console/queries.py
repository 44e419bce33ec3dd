"""Query runs: ids, streaming in growing pages, and one final outcome. No Textual here.

`stream()` is the one way floe-tui reads a query's result: the console's query pane runs it on a
worker thread and posts what it yields as messages, `floe-tui query` prints what it yields. It
connects (lazily), executes, and yields `Page`s of rows as they arrive, then one `Finished`.
Pages start small (`FIRST_PAGE_ROWS`, so the first rows show at once) and grow fourfold up to
`MAX_PAGE_ROWS`; one also leaves every `PAGE_EVERY_S` whatever its size, so a slow result still
trickles in. The outcome is always one of `completed`, `failed`, `cancelled`, `timed_out`.

`QueryRuns` is the query pane's bookkeeping on the UI thread: each run gets an id, and a page or
outcome of a run that is not the current one (superseded, or cancelled before it came) is
dropped. Cancelling interrupts the query inside the engine from a short-lived thread: the
caller never waits on an engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from floe_tui.console.history import HistoryEntry

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from floe_tui.compute import ComputeError, ComputePlugin, QueryHandle, QueryStats
    from floe_tui.console.events import EventLog
    from floe_tui.console.history import QueryHistory

DEFAULT_LIMIT = 10_000
FIRST_PAGE_ROWS = 500
MAX_PAGE_ROWS = 50_000
PAGE_EVERY_S = 0.25
#: How long a reader that stopped on an unexpected error waits for the engine to stop.
STOP_WAIT_S = 5.0
OUTCOME_WORDS = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed out",
}

Columns = list[tuple[str, str]]


@dataclass(frozen=True)
class Page:
    """Rows of run `run_id` (one Arrow table of one or more record batches), in arrival order."""

    run_id: int
    table: pa.Table
    columns: Columns


@dataclass(frozen=True)
class Finished:
    """How run `run_id` ended: `outcome` is completed, failed, cancelled or timed_out."""

    run_id: int
    outcome: str
    rows: int
    truncated: bool
    elapsed_s: float
    #: One line for a person (the engine's message); None when there is nothing to say.
    message: str | None
    columns: Columns
    #: The compute error behind a failure, timeout or cancel, as raised (None for an engine's
    #: own exception, which `message` describes).
    error: ComputeError | None = None
    #: After a cancel or timeout: did the engine confirm it stopped? None: it was not stopped.
    stop_confirmed: bool | None = None


@dataclass
class QueryRun:
    """One run: what to run where, and, as it streams, how far it got."""

    id: int
    target: str
    sql: str
    limit: int | None
    timeout_s: float
    started: float
    handle: QueryHandle | None = None
    cancel_requested: bool = False
    done: bool = False
    rows: int = 0
    outcome: str = "running"
    elapsed_s: float = 0.0
    truncated: bool = False
    error: str | None = None
    pages: list[pa.Table] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"run {self.id}"


def stream(
    run: QueryRun,
    plugin: ComputePlugin,
    *,
    first_page_rows: int = FIRST_PAGE_ROWS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Page | Finished]:
    """Connect, execute and read `run` on `plugin`: its pages, then its `Finished`. Blocks.

    For a worker thread (or a command's main thread); touches nothing but `run.handle`, and
    reads `run.cancel_requested`. A KeyboardInterrupt propagates (the query is then cancelled).
    """
    import pyarrow as pa

    from floe_tui.compute import ComputeError

    def finish(
        outcome: str,
        message: str | None = None,
        error: ComputeError | None = None,
        handle: QueryHandle | None = None,
    ) -> Finished:
        return Finished(
            run.id,
            outcome,
            handle.rows if handle else 0,
            handle.truncated if handle else False,
            handle.elapsed_s if handle else 0.0,
            message,
            columns_of(handle) if handle is not None else [],
            error,
            handle.stop_confirmed if handle else None,
        )

    try:
        plugin.connect()
        if run.cancel_requested:
            yield finish("cancelled")
            return
        handle = plugin.execute(run.sql, timeout=run.timeout_s, limit=run.limit)
    except ComputeError as exc:
        yield finish("failed", describe(exc), exc)
        return
    except Exception as exc:  # an engine's own failure to start
        yield finish("failed", f"{type(exc).__name__}: {exc}"[:500])
        return
    run.handle = handle
    if run.cancel_requested:
        handle.cancel()
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    page_rows = first_page_rows
    last_page = clock()
    message: str | None = None
    error: ComputeError | None = None
    try:
        for batch in handle.batches():
            if run.cancel_requested and not pending:
                continue  # let the cancel land; do not ship pages nobody will see
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= page_rows or clock() - last_page >= PAGE_EVERY_S:
                yield Page(run.id, pa.Table.from_batches(pending), columns_of(handle))
                pending, pending_rows = [], 0
                page_rows = min(MAX_PAGE_ROWS, page_rows * 4)
                last_page = clock()
    except ComputeError as exc:
        message, error = describe(exc), exc
    except Exception as exc:  # reading batches failed in the engine driver
        message = f"{type(exc).__name__}: {exc}"[:500]
    if pending:
        yield Page(run.id, pa.Table.from_batches(pending), columns_of(handle))
    outcome = handle.outcome.value
    if outcome == "running":  # the reader stopped on an unexpected error: stop the engine
        handle.cancel()
        handle.wait(STOP_WAIT_S)
        outcome = handle.outcome.value if handle.outcome.value != "running" else "failed"
    if outcome in ("cancelled", "timed_out", "completed"):
        error = None if outcome == "completed" else handle.error
        message = error.message if error is not None else None
    yield finish(outcome, message, error, handle)


def describe(exc: ComputeError) -> str:
    """A compute error on one line, as the query pane shows it."""
    return f"{exc.code}: {exc.message} (hint: {exc.hint})"


def columns_of(handle: QueryHandle) -> Columns:
    return [(c.name, c.type) for c in handle.columns]


class QueryRuns:
    """The query pane's runs (owner's thread only): ids, the current run, history and log entries."""

    def __init__(
        self,
        history: QueryHistory,
        events: EventLog,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history
        self.events = events
        self.clock = clock
        self.monotonic = monotonic
        self.counter = 0
        self.current: QueryRun | None = None

    def start(self, target: str, sql: str, *, limit: int, timeout_s: float) -> QueryRun:
        """A new current run (the one before it, if still running, is cancelled and dropped)."""
        if self.current is not None and not self.current.done:
            self.cancel(log=False, superseded=True)
        self.counter += 1
        run = QueryRun(self.counter, target, sql, limit, timeout_s, started=self.monotonic())
        self.current = run
        self.remember(run)
        return run

    def live(self, run_id: int) -> QueryRun | None:
        """The current run if `run_id` is it and it has not ended; None for a late arrival."""
        run = self.current
        return run if run is not None and run.id == run_id and not run.done else None

    def page(self, page: Page) -> QueryRun | None:
        """Count a page in; None if it belongs to a superseded or ended run (drop it)."""
        run = self.live(page.run_id)
        if run is not None:
            run.pages.append(page.table)
            run.rows += page.table.num_rows
        return run

    def finish(self, finished: Finished) -> QueryRun | None:
        """End the run as its worker reported; None if it was superseded or ended already."""
        run = self.live(finished.run_id)
        if run is not None:
            self.end(run, finished.outcome, finished.message, finished.truncated)
        return run

    def end(self, run: QueryRun, outcome: str, error: str | None, truncated: bool = False) -> QueryRun:
        run.done = True
        run.outcome = outcome
        run.error = error
        run.truncated = truncated
        run.elapsed_s = self.monotonic() - run.started
        if outcome != "completed":
            word = OUTCOME_WORDS.get(outcome, outcome)
            detail = f": {error}" if error and outcome == "failed" else ""
            self.events.log("query", word, f"{run.label} on {run.target} after {run.elapsed_s:.2f} s{detail}")
        self.remember(run)
        return run

    def cancel(self, *, log: bool = True, superseded: bool = False) -> bool:
        """Ask the engine to stop the current run; True when it is not in the engine yet.

        True means nothing runs in the engine (the run is still connecting and its worker will
        not start it): the caller ends the run as cancelled at once. With `log` False (quitting)
        or `superseded` (a new run replaces it), the run is dropped without an outcome.
        """
        run = self.current
        if run is None or run.done or run.cancel_requested:
            return False
        run.cancel_requested = True
        handle = run.handle
        if handle is not None:
            threading.Thread(target=handle.cancel, name="floe-cancel", daemon=True).start()
            if superseded or not log:
                run.done = True
            return False
        if superseded or not log:
            run.done = True
            return False
        return True

    def remember(self, run: QueryRun) -> None:
        """Put the run in the history (in memory: `history.save()` off the UI thread persists it)."""
        self.history.add(
            HistoryEntry(
                sql=run.sql,
                target=run.target,
                at=self.clock().isoformat(timespec="seconds"),
                outcome=run.outcome,
                rows=run.rows,
                elapsed_s=round(run.elapsed_s, 3),
            )
        )


def stats_summary(stats: QueryStats | None) -> str:
    """What the engine reported about a finished query, for a summary line ("" when nothing)."""
    if stats is None:
        return ""
    parts = [
        f"{value:,} bytes {what}"
        for value, what in ((stats.bytes_processed, "processed"), (stats.bytes_billed, "billed"))
        if value is not None
    ]
    if stats.query_id:
        parts.append(f"query {stats.query_id}")
    return ", ".join(parts)
