"""One bounded, thread-safe, instrumented connection pool that every plugin reuses.

What a "connection" is belongs to the plugin (a DuckDB cursor on one database, a Spark job
slot on one session); the pool only opens, checks, lends and closes them. Connections open
lazily up to ``size``; a caller waits at most ``acquire_timeout_s`` for one.

``acquire()`` returns a :class:`Lease`, as SQLAlchemy's pool does: the borrower either
releases it (the connection goes back to the idle set) or invalidates it (the connection is
closed). A connection that fails its check on acquire, or whose lease is invalidated, is lost;
the next connection opened in its place counts as a reconnect, whether that is at once or after
the engine was down for a while (when the first attempts to open one failed).

Opening, checking and closing a connection are engine calls, each bounded by
``connect_timeout_s`` or the caller's remaining budget, whichever is shorter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from floe_tui.compute.bounded import run_bounded
from floe_tui.compute.errors import ComputeError, ConnectTimeoutError, NotConnectedError, PoolTimeoutError
from floe_tui.compute.models import PoolConfig, PoolStats
from floe_tui.compute.telemetry import TargetTelemetry

C = TypeVar("C")
log = logging.getLogger("floe_tui.compute.pool")
_WAIT_SAMPLES = 2048


class Lease(Generic[C]):
    """One borrowed connection; give it back exactly once, by `release()` or `invalidate()`.

    As a context manager it yields the connection and, on leaving, invalidates it when the error
    that ended the block says it broke the connection, and releases it otherwise.
    """

    def __init__(self, pool: ConnectionPool[C], connection: C) -> None:
        self.connection = connection
        self._pool = pool
        self._lock = threading.Lock()
        self._returned = False

    def release(self) -> None:
        """The connection is fine: back to the idle set (or closed, if the pool closed meanwhile)."""
        if self._take():
            self._pool._give_back(self.connection, broken=False)

    def invalidate(self) -> None:
        """The connection cannot be trusted: close it; its replacement counts as a reconnect."""
        if self._take():
            self._pool._give_back(self.connection, broken=True)

    def _take(self) -> bool:
        with self._lock:
            first, self._returned = not self._returned, True
        return first

    def __enter__(self) -> C:
        return self.connection

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, ComputeError) and exc.breaks_connection:
            self.invalidate()
        else:
            self.release()


class ConnectionPool(Generic[C]):
    def __init__(
        self,
        *,
        open_connection: Callable[[], C],
        close_connection: Callable[[C], None],
        check_connection: Callable[[C], None],
        config: PoolConfig,
        telemetry: TargetTelemetry,
        on_drained: Callable[[], None] | None = None,
        check_after_idle_s: float = 0.0,
    ) -> None:
        self._open = open_connection
        self._close_one = close_connection
        self._check = check_connection
        self._config = config
        self._telemetry = telemetry
        self._on_drained = on_drained
        self._check_after_idle_s = check_after_idle_s
        self._cond = threading.Condition()
        self._idle: deque[tuple[C, float]] = deque()  # with the time each came back
        self._in_use = 0
        self._waiting = 0
        self._created = 0
        self._closed_count = 0
        self._reconnects = 0
        self._lost = 0  # lost connections not replaced yet
        self._acquire_timeouts = 0
        self._waits_ms: deque[float] = deque(maxlen=_WAIT_SAMPLES)
        self._sorted_waits: list[float] | None = []  # sorted once per change, not per stats()
        self._closed = False
        self._drained_fired = False
        telemetry.observe_pool(self.stats)

    # -- lending -------------------------------------------------------------------------
    def acquire(
        self, timeout: float | None = None, *, budget: float | None = None, check: bool = False
    ) -> Lease[C]:
        """Wait at most `timeout` (default ``acquire_timeout_s``) for a free slot.

        `budget` is the caller's remaining time in all (a query's timeout, a health check's):
        neither the wait nor opening or checking the connection may run past it. An idle
        connection is checked before it is lent when it has been idle for ``check_after_idle_s``
        or more, or when `check` asks for it (a health probe); a new one is not (it just answered).
        """
        wait_s = self._config.acquire_timeout_s if timeout is None else timeout
        if budget is not None:
            wait_s = min(wait_s, budget)
        started = time.monotonic()
        deadline = started + wait_s
        conn: C | None = None
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise NotConnectedError("the connection pool is closed")
                    if self._idle:
                        conn, idle_since = self._idle.pop()
                        check = check or time.monotonic() - idle_since >= self._check_after_idle_s
                        break
                    if self._open_count() < self._config.size:
                        conn = None  # the slot is reserved by counting it in use below
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._acquire_timeouts += 1
                        self._telemetry.pool_timeout()
                        raise PoolTimeoutError(
                            f"no free connection within {wait_s:g} s "
                            f"(pool of {self._config.size}, all in use)"
                        )
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
            self._in_use += 1
        engine_deadline = time.monotonic() + self._config.connect_timeout_s
        if budget is not None:
            engine_deadline = min(engine_deadline, started + budget)
        try:
            if conn is None:
                conn = self._open_new(engine_deadline)
            elif check:
                conn = self._checked(conn, engine_deadline)
        except BaseException:
            with self._cond:
                self._in_use -= 1
                self._cond.notify()
            raise
        waited = time.monotonic() - started
        with self._cond:
            self._waits_ms.append(waited * 1000)
            self._sorted_waits = None
        self._telemetry.pool_wait(waited)
        return Lease(self, conn)

    def _give_back(self, conn: C, *, broken: bool) -> None:
        with self._cond:
            self._in_use -= 1
            keep = not (broken or self._closed)
            if keep:
                self._idle.append((conn, time.monotonic()))
            elif broken:
                self._lost += 1
            self._cond.notify()
        if not keep:
            self._discard(conn)
        self._maybe_drained()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close idle connections now and checked-out ones when they come back."""
        with self._cond:
            self._closed = True
            idle, self._idle = [conn for conn, _ in self._idle], deque()
            self._cond.notify_all()
        for conn in idle:
            self._discard(conn)
        self._maybe_drained()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exhausted(self) -> bool:
        """Every connection is lent out and no more may open: a new query would wait."""
        with self._cond:
            return not self._idle and self._open_count() >= self._config.size

    def stats(self) -> PoolStats:
        with self._cond:
            if self._sorted_waits is None:
                self._sorted_waits = sorted(self._waits_ms)
            waits = self._sorted_waits
            return PoolStats(
                size=self._open_count(),
                max=self._config.size,
                in_use=self._in_use,
                idle=len(self._idle),
                waiting=self._waiting,
                created=self._created,
                closed=self._closed_count,
                reconnects=self._reconnects,
                acquire_timeouts=self._acquire_timeouts,
                acquire_wait_p50_ms=_percentile(waits, 0.50),
                acquire_wait_p99_ms=_percentile(waits, 0.99),
            )

    # -- internals -----------------------------------------------------------------------
    def _open_count(self) -> int:
        return len(self._idle) + self._in_use

    def _open_new(self, deadline: float) -> C:
        conn = run_bounded(
            deadline - time.monotonic(),
            self._open,
            "a new connection did not open",
            on_late=self._close_one,  # opened after we gave up on it: close it at once
        )
        with self._cond:
            self._created += 1
            replaces_lost = self._lost > 0
            if replaces_lost:
                self._lost -= 1
                self._reconnects += 1
        if replaces_lost:
            self._telemetry.reconnect()
        return conn

    def _checked(self, conn: C, deadline: float) -> C:
        """Hand out `conn` if it still answers; else replace it (a reconnect)."""
        try:
            run_bounded(
                deadline - time.monotonic(),
                lambda: self._check(conn),
                "a pooled connection did not answer its check",
            )
            return conn
        except Exception as exc:  # any failure of the check means the connection is gone
            failure = exc
            log.info("replacing a pooled connection that failed its check (%s)", type(exc).__name__)
        self._discard(conn, deadline)
        with self._cond:
            self._lost += 1
        if isinstance(failure, ConnectTimeoutError) and deadline - time.monotonic() <= 0:
            raise failure  # no time is left to open a replacement: say what did not answer
        return self._open_new(deadline)

    def _discard(self, conn: C, deadline: float | None = None) -> None:
        """Close `conn`, waiting at most until `deadline` (default: ``connect_timeout_s`` from now)."""
        seconds = self._config.connect_timeout_s if deadline is None else deadline - time.monotonic()
        try:
            run_bounded(seconds, lambda: self._close_one(conn), "closing a connection did not finish")
        except ComputeError as exc:
            log.warning("closing a connection failed: %s", exc.code)
        except Exception as exc:  # closing must never fail the caller
            log.warning("closing a connection failed: %s", type(exc).__name__)
        with self._cond:
            self._closed_count += 1

    def _maybe_drained(self) -> None:
        with self._cond:
            fire = self._closed and not self._drained_fired and self._open_count() == 0
            self._drained_fired = self._drained_fired or fire
        if fire:
            self._telemetry.forget_pool()
            if self._on_drained is not None:
                self._on_drained()


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return round(sorted_values[index], 3)
