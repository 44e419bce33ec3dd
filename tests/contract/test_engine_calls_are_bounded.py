"""Every engine call is bounded by the core (DESIGN section 2), whatever the plugin does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_tui.compute import ComputeConfig, HealthState, QueryOutcome

from .hanging_engine import HANG, HangingPlugin

SLACK_S = 0.5  # scheduling on a loaded 2-core machine


def make(connection: dict[str, bool] | None = None, *, size: int = 1) -> HangingPlugin:
    return HangingPlugin(
        ComputeConfig(
            name="toy",
            plugin="hanging",
            connection=connection or {},
            pool={"size": size, "acquire_timeout_s": 30, "connect_timeout_s": 1.0},
        )
    )


@pytest.fixture
def plugin() -> Iterator[HangingPlugin]:
    engine = make()
    engine.connect()
    yield engine
    HangingPlugin.release_all()
    engine.disconnect()


def test_a_timeout_the_engine_ignores_settles_one_second_after_the_deadline(plugin: HangingPlugin) -> None:
    started = time.monotonic()
    handle = plugin.execute(HANG, timeout=0.3)
    assert handle.wait(5) is QueryOutcome.TIMED_OUT
    took = time.monotonic() - started
    assert took + 0.05 >= 0.3 + 1.0 and took < 0.3 + 1.0 + SLACK_S
    assert handle.stop_confirmed is False and handle.error is not None
    assert plugin.opened[0].interrupts >= 1, "the core still asked the engine to stop"
    # The hung connection is retired, and the next query gets a new one (a reconnect).
    assert plugin.execute("SELECT 1", timeout=5).fetch_all().num_rows == 1
    stats = plugin.pool_stats()
    assert plugin.opened[0].closed and stats.reconnects == 1 and stats.in_use == 0


def test_a_cancel_the_engine_ignores_settles_within_a_second(plugin: HangingPlugin) -> None:
    handle = plugin.execute(HANG, timeout=60)
    assert handle.wait_started(5)
    started = time.monotonic()
    handle.cancel()
    assert handle.wait(5) is QueryOutcome.CANCELLED
    assert time.monotonic() - started < 1.0 + SLACK_S and handle.stop_confirmed is False


def test_a_confirmed_stop_and_the_engines_statistics(plugin: HangingPlugin) -> None:
    done = plugin.execute("SELECT 1", timeout=5)
    assert done.wait(5) is QueryOutcome.COMPLETED
    assert done.stop_confirmed is None and done.stats is not None and done.stats.query_id == "toy-1"
    waiting_for_nothing = plugin.execute(HANG, timeout=60)
    assert waiting_for_nothing.wait_started(5)
    HangingPlugin.release_all()  # the engine answers the interrupt by returning
    waiting_for_nothing.cancel()
    assert waiting_for_nothing.wait(5) is QueryOutcome.CANCELLED
    assert waiting_for_nothing.stop_confirmed is True


def test_the_timeout_counts_the_wait_for_a_pooled_connection(plugin: HangingPlugin) -> None:
    blocker = plugin.execute(HANG, timeout=60)  # holds the only connection
    assert blocker.wait_started(5)
    started = time.monotonic()
    queued = plugin.execute("SELECT 1", timeout=0.3)
    assert queued.wait(5) is QueryOutcome.TIMED_OUT
    assert time.monotonic() - started < 0.3 + SLACK_S, "it waited for acquire_timeout_s instead"
    assert queued.stop_confirmed is True  # nothing ran in the engine
    cancelled = plugin.execute("SELECT 1", timeout=60)
    started = time.monotonic()
    cancelled.cancel()
    assert cancelled.wait(5) is QueryOutcome.CANCELLED and time.monotonic() - started < SLACK_S
    blocker.cancel()
    assert plugin.pool_stats().waiting <= 2


def test_opening_a_connection_is_bounded_by_connect_timeout() -> None:
    engine = make({"hang_open": True}, size=2)
    engine.connect()  # the first connection opens
    try:
        blocker = engine.execute(HANG, timeout=60)
        assert blocker.wait_started(5)
        started = time.monotonic()
        second = engine.execute("SELECT 1", timeout=30)  # needs a second connection, which hangs
        assert second.wait(5) is QueryOutcome.FAILED
        assert time.monotonic() - started < 1.0 + SLACK_S
        assert second.error is not None and second.error.code == "FLOE-C301"
        assert "did not open within 1 s" in second.error.message
    finally:
        HangingPlugin.release_all()
        engine.disconnect()


def test_a_hanging_check_is_bounded_by_the_health_timeout() -> None:
    engine = make({"hang_check": True})
    engine.connect()
    try:
        started = time.monotonic()
        status = engine.health_check(timeout=0.4)
        assert time.monotonic() - started < 0.4 + SLACK_S
        assert status.status is HealthState.UNHEALTHY
    finally:
        HangingPlugin.release_all()
        engine.disconnect()


def test_a_hung_query_does_not_hold_the_interpreters_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent.parent.parent)!r})
        from tests.contract.hanging_engine import HANG, HangingPlugin
        from floe_tui.compute import ComputeConfig
        plugin = HangingPlugin(ComputeConfig(name="t", plugin="hanging", pool={{"connect_timeout_s": 1}}))
        plugin.connect()
        handle = plugin.execute(HANG, timeout=0.2)
        print(handle.wait(5).value, handle.stop_confirmed, flush=True)
        """
    )
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["timed_out", "False"]
    assert time.monotonic() - started < 8, "exit waited on the abandoned engine call"
