"""One bounded, thread-safe, instrumented connection pool that every plugin reuses.

What a "connection" is belongs to the plugin (a DuckDB cursor on one database, a Spark job
slot on one session); the pool only opens, checks, lends and closes them. Connections open
lazily up to ``size``; a caller waits at most ``acquire_timeout_s`` for one.

A connection that fails its check on acquire, or comes back broken, is lost; the next connection
opened in its place counts as a reconnect, whether that is at once or after the engine was down
for a while (when the first attempts to open one failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from floe_tui.compute.errors import ComputeError, ConnectionFailedError, NotConnectedError, PoolTimeoutError
from floe_tui.compute.models import PoolConfig, PoolStats
from floe_tui.compute.telemetry import TargetTelemetry

C = TypeVar("C")
log = logging.getLogger("floe_tui.compute.pool")
_WAIT_SAMPLES = 2048


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
    ) -> None:
        self._open = open_connection
        self._close_one = close_connection
        self._check = check_connection
        self._config = config
        self._telemetry = telemetry
        self._on_drained = on_drained
        self._cond = threading.Condition()
        self._idle: deque[C] = deque()
        self._in_use = 0
        self._waiting = 0
        self._created = 0
        self._closed_count = 0
        self._reconnects = 0
        self._lost = 0  # lost connections not replaced yet
        self._acquire_timeouts = 0
        self._waits_ms: deque[float] = deque(maxlen=_WAIT_SAMPLES)
        self._closed = False
        self._drained_fired = False
        telemetry.observe_pool(self.stats)

    # -- lending -------------------------------------------------------------------------
    def acquire(self, timeout: float | None = None) -> C:
        budget = self._config.acquire_timeout_s if timeout is None else timeout
        started = time.monotonic()
        deadline = started + budget
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise NotConnectedError("the connection pool is closed")
                    if self._idle:
                        conn: C | None = self._idle.pop()
                        break
                    if self._open_count() < self._config.size:
                        conn = None  # the slot is reserved by counting it in use below
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._acquire_timeouts += 1
                        self._telemetry.pool_timeout()
                        raise PoolTimeoutError(
                            f"no free connection within {budget:g} s "
                            f"(pool of {self._config.size}, all in use)"
                        )
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
            self._in_use += 1
        try:
            conn = self._open_new() if conn is None else self._checked(conn)
        except BaseException:
            with self._cond:
                self._in_use -= 1
                self._cond.notify()
            raise
        waited = time.monotonic() - started
        with self._cond:
            self._waits_ms.append(waited * 1000)
        self._telemetry.pool_wait(waited)
        return conn

    def release(self, conn: C, *, broken: bool = False) -> None:
        with self._cond:
            self._in_use -= 1
            keep = not (broken or self._closed)
            if keep:
                self._idle.append(conn)
            elif broken:
                self._lost += 1
            self._cond.notify()
        if not keep:
            self._discard(conn)
        self._maybe_drained()

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[C]:
        conn = self.acquire(timeout)
        broken = False
        try:
            yield conn
        except ConnectionFailedError:
            broken = True
            raise
        finally:
            self.release(conn, broken=broken)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close idle connections now and checked-out ones when they come back."""
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._cond.notify_all()
        for conn in idle:
            self._discard(conn)
        self._maybe_drained()

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> PoolStats:
        with self._cond:
            waits = sorted(self._waits_ms)
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

    def _open_new(self) -> C:
        conn = self._open()
        with self._cond:
            self._created += 1
            replaces_lost = self._lost > 0
            if replaces_lost:
                self._lost -= 1
                self._reconnects += 1
        if replaces_lost:
            self._telemetry.reconnect()
        return conn

    def _checked(self, conn: C) -> C:
        """Hand out `conn` if it still answers; else replace it (a reconnect)."""
        try:
            self._check(conn)
            return conn
        except Exception as exc:  # any failure of the check means the connection is gone
            log.info("replacing a pooled connection that failed its check (%s)", type(exc).__name__)
        self._discard(conn)
        with self._cond:
            self._lost += 1
        return self._open_new()

    def _discard(self, conn: C) -> None:
        try:
            self._close_one(conn)
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
