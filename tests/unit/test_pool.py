"""The pool's accounting under concurrency, checks and shutdown.

The connections here are plain Python objects: the pool is engine-neutral, and these tests are
about its bookkeeping; the engines' own pools are exercised by the compliance suite.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from floe_tui.compute import (
    ConnectionFailedError,
    ConnectionPool,
    ConnectTimeoutError,
    NotConnectedError,
    PoolConfig,
    PoolTimeoutError,
    QueryError,
)
from floe_tui.compute.telemetry import TargetTelemetry


class Conn:
    ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.alive = True
        self.closed = False


def make_pool(
    size: int = 2,
    acquire_timeout_s: float = 5.0,
    drained: list[bool] | None = None,
    open_connection: Callable[[], Conn] = Conn,
) -> ConnectionPool[Conn]:
    def check(conn: Conn) -> None:
        if not conn.alive:
            raise RuntimeError("gone")

    def close(conn: Conn) -> None:
        conn.closed = True

    return ConnectionPool(
        open_connection=open_connection,
        close_connection=close,
        check_connection=check,
        config=PoolConfig(size=size, acquire_timeout_s=acquire_timeout_s),
        telemetry=TargetTelemetry("test", "pool"),
        on_drained=(lambda: drained.append(True)) if drained is not None else None,
    )


def test_connections_open_lazily_and_are_reused() -> None:
    pool = make_pool(size=3)
    assert pool.stats().size == 0
    first = pool.acquire()
    first.release()
    again = pool.acquire()
    assert again.connection is first.connection
    again.release()
    stats = pool.stats()
    assert (stats.size, stats.created, stats.in_use, stats.idle) == (1, 1, 0, 1)


def test_acquire_waits_then_times_out_with_a_clear_error() -> None:
    pool = make_pool(size=1, acquire_timeout_s=0.1)
    held = pool.acquire()
    with pytest.raises(PoolTimeoutError) as caught:
        pool.acquire()
    assert "0.1 s" in caught.value.message and caught.value.hint
    assert pool.stats().acquire_timeouts == 1
    held.release()
    assert pool.stats().waiting == 0


def test_a_waiter_gets_the_connection_released_by_another_thread() -> None:
    pool = make_pool(size=1)
    held = pool.acquire()
    got: list[Conn] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    while pool.stats().waiting == 0:
        waiter.join(0.001)
    held.release()
    waiter.join(5)
    assert got[0].connection is held.connection


def test_failed_check_replaces_the_connection_and_counts_a_reconnect() -> None:
    pool = make_pool(size=1)
    lease = pool.acquire()
    conn = lease.connection
    lease.release()
    conn.alive = False
    fresh = pool.acquire()
    assert fresh.connection is not conn and conn.closed
    stats = pool.stats()
    assert (stats.reconnects, stats.created, stats.closed, stats.size) == (1, 2, 1, 1)


def test_a_connection_lost_in_an_outage_counts_as_a_reconnect_once_it_is_replaced() -> None:
    engine_up = [True]

    def open_connection() -> Conn:
        if not engine_up[0]:
            raise ConnectionError("the engine is down")
        return Conn()

    pool = make_pool(size=1, open_connection=open_connection)
    lease = pool.acquire()
    conn = lease.connection
    lease.release()
    conn.alive, engine_up[0] = False, False  # the engine goes away with its connection
    with pytest.raises(ConnectionError):
        pool.acquire()  # the check fails, and so does opening a replacement
    assert pool.stats().reconnects == 0
    engine_up[0] = True
    fresh = pool.acquire()
    assert fresh.connection is not conn and pool.stats().reconnects == 1
    fresh.invalidate()  # a query lost it: its replacement is a reconnect too
    assert pool.stats().reconnects == 1
    pool.acquire().release()
    stats = pool.stats()
    assert (stats.reconnects, stats.created, stats.size, stats.in_use) == (2, 3, 1, 0)


def test_broken_connection_is_not_returned_to_the_pool() -> None:
    pool = make_pool()
    lease = pool.acquire()
    lease.invalidate()
    assert lease.connection.closed and pool.stats().size == 0


def test_close_waits_for_checked_out_connections() -> None:
    drained: list[bool] = []
    pool = make_pool(size=2, drained=drained)
    idle, busy = pool.acquire(), pool.acquire()
    idle.release()
    pool.close()
    assert idle.connection.closed and not busy.connection.closed and drained == []
    busy.release()
    assert busy.connection.closed and drained == [True]
    stats = pool.stats()
    assert stats.size == 0 and stats.created == stats.closed == 2
    with pytest.raises(NotConnectedError):
        pool.acquire()


def test_close_wakes_waiters() -> None:
    pool = make_pool(size=1)
    held = pool.acquire()
    errors: list[Exception] = []

    def wait_for_one() -> None:
        try:
            pool.acquire()
        except NotConnectedError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    while pool.stats().waiting == 0:
        waiter.join(0.001)
    pool.close()
    waiter.join(5)
    assert len(errors) == 1
    held.release()


def test_accounting_under_contention_returns_to_zero() -> None:
    pool = make_pool(size=4)

    def borrow(_: int) -> None:
        with pool.acquire() as conn:
            assert not conn.closed

    with ThreadPoolExecutor(16) as workers:
        list(workers.map(borrow, range(2000)))
    stats = pool.stats()
    assert stats.in_use == 0 and stats.waiting == 0
    assert stats.created - stats.closed == stats.size <= 4
    assert stats.acquire_wait_p99_ms >= stats.acquire_wait_p50_ms >= 0


def test_open_failure_frees_the_slot() -> None:
    def refuse() -> Conn:
        raise RuntimeError("engine down")

    pool: ConnectionPool[Conn] = ConnectionPool(
        open_connection=refuse,
        close_connection=lambda c: None,
        check_connection=lambda c: None,
        config=PoolConfig(size=1),
        telemetry=TargetTelemetry("test", "pool"),
    )
    for _ in range(3):
        with pytest.raises(RuntimeError):
            pool.acquire()
    assert pool.stats().in_use == 0


def test_a_lease_is_given_back_once_and_its_context_decides_by_breaks_connection() -> None:
    pool = make_pool(size=1)
    lease = pool.acquire()
    lease.release()
    lease.invalidate()  # already back: a second return changes nothing
    assert (pool.stats().idle, pool.stats().closed) == (1, 0)
    with pytest.raises(QueryError), pool.acquire() as conn:
        raise QueryError("a syntax error")  # the connection is fine
    assert pool.stats().idle == 1 and not conn.closed
    with pytest.raises(QueryError), pool.acquire() as conn:
        raise QueryError("the session expired", breaks_connection=True)
    assert conn.closed and pool.stats().size == 0
    with pytest.raises(ConnectionFailedError), pool.acquire() as conn:
        raise ConnectionFailedError("the server went away")
    assert conn.closed
    pool.acquire().release()
    assert pool.stats().reconnects == 2


def test_a_hung_open_is_bounded_by_the_callers_budget() -> None:
    gate = threading.Event()
    opened: list[Conn] = []

    def slow_open() -> Conn:
        gate.wait()
        opened.append(Conn())
        return opened[-1]

    pool = make_pool(size=1, open_connection=slow_open)
    with pytest.raises(ConnectTimeoutError) as caught:
        pool.acquire(budget=0.2)
    assert "did not open within 0.2 s" in caught.value.message
    assert pool.stats().in_use == 0
    gate.set()  # the open finishes late: what it opened is closed, not leaked
    deadline = time.monotonic() + 5
    while not (opened and opened[0].closed) and time.monotonic() < deadline:
        gate.wait(0.01)
    assert opened and opened[0].closed
