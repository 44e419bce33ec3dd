"""Issue 13, point 6: 16 threads through a pool of 4, on every engine with a local server.

Each thread runs its queries one after another (each checks its own answer); every query
completes or fails cleanly (a ComputeError with a code and a hint), `in_use` returns to 0,
`created - closed == size` while connected and 0 after `disconnect()`, and no thread or file
descriptor is left once the daemon threads have wound down (counted before and after, against a
baseline taken after one warm-up connect of the same engine, so a library's process-wide
threads are not mistaken for leaks). The core's own reusable pools (one watchdog, idle workers
that exit after a minute) are not counted as left behind.

Queries per thread: 200 on DuckDB (3,200 in all), 20 on fakesnow and crucible (320: each
serves one request at a time, 5-10 ms each here) and 3 on Spark Connect (48: 70-130 ms each on
two busy cores, and its sessions take seconds to open).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, ComputeError, ComputePlugin, QueryOutcome
from floe_tui.testing.servers import wait_for

from .support import (
    DUCKDB_TARGET,
    POOLED_THREADS,
    Servers,
    leftover_threads,
    native_threads,
    open_fds,
    thread_names,
)

THREADS = 16
POOL = 4
PER_THREAD = {"duckdb": 200, "snowflake": 20, "bigquery": 20, "spark": 3}
WIND_DOWN_S = 20.0


def hammer(plugin: ComputePlugin, per_thread: int, sql: Callable[[int], str], column: str) -> dict[str, Any]:
    """16 threads, `per_thread` queries each; what happened to them."""
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        for index in range(per_thread):
            value = number * 10_000 + index
            try:
                handle = plugin.execute(sql(value), timeout=120)
                rows = handle.fetch_all().to_pylist()
                outcome = handle.outcome.value
                if rows != [{column: value}]:
                    with lock:
                        problems.append(f"query {value} answered {rows!r}")
            except ComputeError as exc:  # a clean failure: a code and a hint
                outcome = "failed"
                if not (exc.code and exc.hint):
                    with lock:
                        problems.append(f"unclean failure: {exc!r}")
            except Exception as exc:  # anything else is not clean
                outcome = "crashed"
                with lock:
                    problems.append(f"{type(exc).__name__}: {exc}")
            with lock:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,), name=f"load-{n}") for n in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not any(thread.is_alive() for thread in threads), "a load thread is stuck"
    return {"outcomes": outcomes, "problems": problems, "seconds": time.monotonic() - started}


def make_target(
    engine: str, servers: Servers
) -> tuple[type[ComputePlugin], Callable[[str], ComputeConfig], str, str]:
    pool = {"size": POOL, "acquire_timeout_s": 120}
    if engine == "duckdb":
        target = {k: v for k, v in DUCKDB_TARGET.items() if k != "credentials"}

        def duckdb_config(name: str) -> ComputeConfig:
            return ComputeConfig.from_mapping({**target, "name": name, "pool": pool})

        return DuckDBComputePlugin, duckdb_config, "SELECT {} AS n", "n"
    server = servers.get(engine)

    def config(name: str) -> ComputeConfig:
        return server.config(name, pool=pool)

    column = "N" if engine == "snowflake" else "n"
    return server.plugin_class, config, "SELECT {} AS n", column


@pytest.mark.parametrize(
    "engine", ["duckdb", "snowflake", "bigquery", pytest.param("spark", marks=pytest.mark.slow)]
)
@pytest.mark.timeout(300)
def test_sixteen_threads_through_a_pool_of_four(engine: str, servers: Servers, record: Any) -> None:
    plugin_class, config, sql, column = make_target(engine, servers)
    with plugin_class(config(f"{engine}_warm")) as warm:  # process-wide threads and fds of the library
        assert warm.execute(sql.format(1), timeout=120).wait(120) is QueryOutcome.COMPLETED
    threads_before = thread_names()
    native_before = native_threads()
    fds_before = open_fds()

    plugin = plugin_class(config(f"{engine}_load"))
    plugin.connect()
    try:
        result = hammer(plugin, PER_THREAD[engine], sql.format, column)
        wait_for(lambda: plugin.pool_stats().in_use == 0, 10, "in_use back to 0")
        stats = plugin.pool_stats()
        assert stats.size <= POOL and stats.created - stats.closed == stats.size, stats
        assert stats.waiting == 0, stats
    finally:
        plugin.disconnect()
    total = THREADS * PER_THREAD[engine]
    outcomes = result["outcomes"]
    assert not result["problems"], result["problems"][:5]
    assert sum(outcomes.values()) == total and set(outcomes) <= {"completed", "failed"}, outcomes
    wait_for(lambda: plugin.pool_stats().size == 0, 10, "every connection closed after disconnect()")
    after = plugin.pool_stats()
    assert after.created == after.closed and after.in_use == 0, after

    started = time.monotonic()
    try:
        wait_for(lambda: not leftover_threads(threads_before), WIND_DOWN_S, "the query threads to end")
    except TimeoutError:
        raise AssertionError(f"threads left behind: {leftover_threads(threads_before)}") from None
    # The core's reusable workers may outlive the test (idle for a minute): they alone may add to
    # the kernel's count.
    pooled = lambda: sum(name.startswith(POOLED_THREADS) for name in thread_names())  # noqa: E731
    pooled_before = sum(name.startswith(POOLED_THREADS) for name in threads_before)
    try:
        wait_for(
            lambda: native_threads() - (pooled() - pooled_before) <= native_before,
            WIND_DOWN_S,
            "the engine's native threads to end",
        )
    except TimeoutError:
        raise AssertionError(f"native threads: {native_threads()} now, {native_before} before") from None
    try:
        wait_for(lambda: len(open_fds()) <= len(fds_before), WIND_DOWN_S, "file descriptors closed")
    except TimeoutError:
        raise AssertionError(f"file descriptors left open: {sorted(open_fds() - fds_before)}") from None
    wound_down_s = time.monotonic() - started
    rate = total / result["seconds"]
    record(
        f"load: {THREADS} threads x {PER_THREAD[engine]} queries, pool of {POOL}",
        engine,
        f"{outcomes.get('completed', 0)}/{total} completed, {outcomes.get('failed', 0)} failed cleanly "
        f"({rate:.0f} queries/s); in_use 0, {stats.created} connection(s) opened, no thread or fd left",
        wound_down_s,
        "disconnect() to every daemon thread gone and fds back to the baseline",
    )
