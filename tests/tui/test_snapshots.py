"""SVG snapshots of every screen at 120x40, with stable content: a fixed clock, fixed process
figures, toy engines with fixed latencies where live numbers would show (`--snapshot-update`
rewrites them; the SVGs double as the README's screenshots)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_tui.governance import default_manifests

SIZE = (120, 40)


def test_governance_screen_on_the_sample(snap_compare, make_app, until, stand_ins) -> None:
    app = make_app(default_manifests(), plugins=stand_ins)

    async def before(pilot: Any) -> None:
        await until(pilot, lambda: app.core.plan and app.screen.query_one("#gov-tree").cursor_node)
        app.screen._select_key(("enterprise:acme", "domain:sales", "product:orders", "transform:fct_orders"))
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_governance_screen_stepping_to_an_error(
    snap_compare, make_app, until, broken_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(broken_tree.parent)  # the title shows the path as given: keep it stable
    app = make_app(Path(broken_tree.name))

    async def before(pilot: Any) -> None:
        await until(pilot, lambda: app.core.plan and app.screen.query_one("#gov-tree").cursor_node)
        codes = [d.code for d in app.core.plan.diagnostics]
        for _ in range(codes.index("FLOE-E300") + 1):
            await pilot.press("n")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_dashboard_screen(snap_compare, make_app, until, stand_ins, tree_with: Callable[..., Path]) -> None:
    manifests = tree_with({"steady": {"latency_ms": 2.5}, "down": {"down": True}})
    app = make_app(manifests, plugins=stand_ins, interval_s=60)

    async def before(pilot: Any) -> None:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: len(app.core.samples) == 3, what="a sample of every target")
        await until(pilot, lambda: len(app.core.events) >= 5, what="the first events")
        # A minute of polls in a second: replay fixed latencies through the monitor's history and
        # the app's sample inbox, the path every real poll takes (the interval is 60 s, so no
        # real poll lands in between).
        for name in ("duckdb", "steady"):
            first = app.core.samples[name]
            for step in range(40):
                latency = first.health.latency_ms + (step % 9) * 0.4 + (3.0 if step % 13 == 0 else 0.0)
                health = first.health.model_copy(update={"latency_ms": round(latency, 1)})
                sample = first.model_copy(update={"health": health})
                app.core.monitor.history[name].append(sample)
                app.post_sample(sample)
        await pilot.pause(0.3)
        # Monitor threads report in any order: show the log sorted, so the picture is stable.
        from textual.widgets import RichLog

        log = app.screen.query_one("#events", RichLog)
        log.clear()
        order = lambda e: (e.source != "dashboard", e.source, e.kind, e.message)  # noqa: E731
        for line in sorted(app.core.events, key=order):
            log.write(app.screen._log_text(line))
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_query_screen_with_a_result(snap_compare, make_app, until, tree_with: Callable[..., Path]) -> None:
    app = make_app(tree_with(), monotonic=lambda: 1000.0)

    async def before(pilot: Any) -> None:
        from textual.widgets import TextArea

        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.focused, TextArea))
        app.focused.text = "SELECT n, n * n AS square, 'row ' || n AS label\nFROM range(30) t(n)\nORDER BY n"
        await pilot.press("f5")
        await until(pilot, lambda: app.core.queries.current and app.core.queries.current.done, timeout=30)
        app.screen.query_one(TextArea).cursor_blink = False  # a blinking cursor: on or off by the clock
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_help_screen(snap_compare, make_app, until, stand_ins) -> None:
    app = make_app(default_manifests(), plugins=stand_ins)

    async def before(pilot: Any) -> None:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
