"""Dashboard screen: cards fed by the monitor, pause and interval keys, a hung engine, lazy connect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import RichLog, Static, TextArea

from floe_tui.tui.dashboard_screen import TargetCard


def card_of(app: Any, target: str) -> TargetCard:
    return next(card for card in app.screen.query(TargetCard) if card.target == target)


def card_text(app: Any, target: str) -> str:
    return card_of(app, target).text


def log_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen.query_one("#events", RichLog).lines)


async def key_latency(app: Any, key: str, answered: Callable[[], bool], limit_s: float = 2.0) -> float:
    """Send `key` as the terminal driver would; seconds until `answered()` holds."""
    from textual import events

    started = time.monotonic()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    while not answered():
        if time.monotonic() - started > limit_s:
            raise AssertionError(f"key {key!r} not answered within {limit_s} s")
        await asyncio.sleep(0.002)
    return time.monotonic() - started


def title(app: Any) -> str:
    content = app.screen.query_one("#dash-title", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def test_engines_connect_only_when_the_dashboard_is_first_shown(
    make_app, until, tree_with: Callable[..., Path], toy: Any
) -> None:
    app = make_app(tree_with({"steady": {"latency_ms": 2.5}}))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None, what="the plan")
        await pilot.press("3")
        await pilot.press("escape", "1")
        assert app.current_mode == "governance"
        assert toy.connects == {} and app.core.monitor is None  # nothing connected for the first paints
        await pilot.press("2")
        await until(pilot, lambda: toy.connects.get("steady"), what="the connect")


async def test_one_card_per_target_with_status_marks_pool_memory_and_the_reason_of_a_failure(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    manifests = tree_with(
        {
            "steady": {"latency_ms": 2.5, "memory_limit_bytes": 1073741824},
            "slow": {"latency_ms": 40, "state": "degraded", "message": "memory at 93% of its limit"},
            "down": {"down": True},
        }
    )
    app = make_app(manifests, interval_s=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: len(app.core.samples) == 4, what="a sample of every target")
        assert [card.target for card in app.screen.query(TargetCard)] == ["duckdb", "steady", "slow", "down"]
        await until(pilot, lambda: "[OK] healthy  2.5 ms" in card_text(app, "steady"))
        steady = card_text(app, "steady")
        assert "pool  1/2 open · 0 in use · 1 idle · 0 waiting" in steady
        assert "memory  256.0 MiB of 1.0 GiB (25%)" in steady and "BASE_TABLE" in steady
        await until(pilot, lambda: "[WARN] degraded" in card_text(app, "slow"))
        assert "memory at 93% of its limit" in card_text(app, "slow")
        down = card_text(app, "down")
        assert "[FAIL] unhealthy" in down and "toy engine is down: connection refused" in down
        assert card_of(app, "down").has_class("-unhealthy")
        await until(pilot, lambda: "[OK] healthy" in card_text(app, "duckdb"))  # a real DuckDB
        assert "memory" in card_text(app, "duckdb") and "of 244.1 MiB" in card_text(app, "duckdb")
        await until(pilot, lambda: "down" in log_text(app) and "cannot connect" in log_text(app))
        assert "new -> healthy" in log_text(app)
        assert "console CPU 1.5 % · RSS 96.0 MiB" in title(app)


async def test_p_pauses_and_plus_minus_change_the_interval_within_bounds(
    make_app, until, tree_with: Callable[..., Path], toy: Any
) -> None:
    app = make_app(tree_with({"steady": {}}), interval_s=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: toy.checks.get("steady"))
        assert "polling every 1 s" in title(app)
        await pilot.press("p")
        assert app.core.monitor.paused and "paused" in title(app)
        checks = toy.checks["steady"]
        await pilot.press("ctrl+r")  # a poll-now while paused polls nothing
        await pilot.pause(0.3)
        assert toy.checks["steady"] == checks
        await pilot.press("p")
        assert not app.core.monitor.paused
        await until(pilot, lambda: toy.checks["steady"] > checks, what="resume polls at once")
        await pilot.press("plus")
        assert app.core.interval_s == app.core.monitor.interval_s == 0.5
        await pilot.press("plus", "plus", "plus")
        assert app.core.monitor.interval_s == 0.2  # the floor
        for _ in range(10):
            await pilot.press("minus")
        assert app.core.monitor.interval_s == 60.0  # the ceiling
        assert "polling every 60 s" in title(app)
        checks = toy.checks["steady"]
        await pilot.press("ctrl+r")
        await until(pilot, lambda: toy.checks["steady"] > checks, what="poll now")
        assert "interval 60 s" in log_text(app) and "polling paused" in log_text(app)


async def test_the_title_keeps_the_console_cpu_current_while_polling_and_while_paused(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    reads: list[int] = []

    def process_stats() -> tuple[float, int]:  # a new figure on every read
        reads.append(len(reads))
        return float(len(reads)), 96 * 2**20

    app = make_app(tree_with({"steady": {}}), interval_s=0.2, process_stats=process_stats)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: "steady" in app.core.samples, what="the first sample")
        shown = len(reads)  # read with the cards' repaints while samples come
        polling = f"console CPU {shown + 1}.0 %"
        await until(pilot, lambda: polling in title(app), timeout=5, what="a read while polling")
        await pilot.press("p")  # no more samples: the timer reads them
        paused = f"console CPU {len(reads) + 2}.0 %"
        await until(pilot, lambda: paused in title(app), timeout=5, what="reads while paused")


async def test_a_health_check_that_hangs_30_s_never_freezes_the_screen(
    make_app, until, tree_with: Callable[..., Path], toy: Any
) -> None:
    """One target's health check hangs for 30 s (ignoring its timeout); keys keep being answered."""
    app = make_app(tree_with({"hung": {"hang_s": 30}, "steady": {}}), interval_s=0.2, health_timeout_s=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: toy.checks.get("hung"), what="the hanging check to start")
        started = time.monotonic()
        await until(pilot, lambda: "no answer within 0.5 s" in card_text(app, "hung"), timeout=3)
        assert "[FAIL] unhealthy" in card_text(app, "hung")
        assert "health check: no answer within 0.5 s" in log_text(app)
        # For a few seconds of the hang, every key press is answered at once. Keys go in as the
        # terminal driver sends them (Pilot.press would wait for the whole process to go idle).
        answered: list[float] = []
        while time.monotonic() - started < 4:
            paused = app.core.monitor.paused
            answered.append(await key_latency(app, "p", lambda: app.core.monitor.paused is not paused))  # noqa: B023
            in_editor = lambda: app.current_mode == "query" and isinstance(app.focused, TextArea)  # noqa: E731
            answered.append(await key_latency(app, "3", in_editor))
            answered.append(await key_latency(app, "escape", lambda: app.focused is None))
            answered.append(await key_latency(app, "2", lambda: app.current_mode == "dashboard"))
        # A freeze would last the whole 30 s hang; a screen switch restyles the screen (0.1-0.3 s
        # here on 2 busy cores), a key that stays on the screen is answered in milliseconds.
        answered.sort()
        assert answered[len(answered) // 2] < 0.3 and answered[-1] < 1.5, answered
        # The other target kept being polled, and the hung one was never polled twice at once.
        assert toy.checks["steady"] >= 3
        assert toy.checks["hung"] == 1
        assert app.is_running
