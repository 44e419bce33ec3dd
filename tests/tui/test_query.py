"""Query screen on a real DuckDB: run, row limit, cancel, timeout, errors, history, export, scope."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Input, Select, Static, TextArea

ENDLESS = "SELECT count(*) FROM range(10000000000) a"


def status(app: Any) -> str:
    content = app.screen.query_one("#query-status", Static).content
    return content.plain if isinstance(content, Text) else str(content)


def results_text(app: Any) -> str:
    found = app.screen.query(".results-placeholder")
    if not found:
        return ""
    content = found.first(Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def open_query(pilot: Any, until: Any, app: Any) -> TextArea:
    await until(pilot, lambda: app.core.plan is not None, what="the plan")
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.focused, TextArea), what="the editor focused")
    return app.screen.query_one("#editor", TextArea)


async def run(pilot: Any, until: Any, app: Any, sql: str, key: str = "f5", ends: str = "completed") -> str:
    editor = app.screen.query_one("#editor", TextArea)
    editor.text = sql
    before = app.core.queries.counter
    await pilot.press(key)
    await until(
        pilot,
        lambda: app.core.queries.counter > before and status(app).endswith(ends),
        timeout=30,
        what=f"`{ends}` in the status line (it reads: {status(app)!r})",
    )
    return status(app)


async def wait_running(pilot: Any, until: Any, app: Any) -> None:
    await until(
        pilot,
        lambda: (
            app.core.queries.current is not None
            and app.core.queries.current.handle is not None
            and app.core.queries.current.handle.wait_started(0)
        ),
        timeout=30,
        what="the query to run in the engine",
    )


async def start_endless(pilot: Any, until: Any, app: Any) -> None:
    """The query pane running a query that would go on for minutes, in the engine."""
    await open_query(pilot, until, app)
    app.screen.query_one("#editor", TextArea).text = ENDLESS
    await pilot.press("f5")
    await wait_running(pilot, until, app)


async def test_the_editor_has_focus_and_ctrl_enter_or_f5_runs_with_rows_streamed_in(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_query(pilot, until, app)
        assert app.focused is editor and editor.language == "sql"
        assert app.screen.query_one("#timeout", Input).value == "30"  # the manifest's query_timeout_s
        line = await run(pilot, until, app, "SELECT * FROM range(2500) t(n)", key="ctrl+enter")
        assert line.startswith("run 1 · duckdb · ") and "2,500 rows · completed" in line
        table = app.screen._table
        assert table is not None and table.row_count == 2500
        line = await run(pilot, until, app, "SELECT 42 AS answer", key="f5")
        assert line.startswith("run 2 · duckdb") and "1 rows · completed" in line
        assert app.screen._table.get_row_at(0)[0] == 42


def burst(app: Any, *keys: str) -> None:
    """Send keys as a terminal delivers a burst of them (tmux send-keys, a paste of keystrokes):
    all queued at once, none waiting for the one before to be handled (Pilot.press waits)."""
    from textual import events
    from textual.keys import _character_to_key

    for key in keys:
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        app.post_message(events.Key(name, key if len(key) == 1 else None))


async def test_f5_right_after_typing_runs_every_character_typed_and_escape_still_cancels_at_once(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_query(pilot, until, app)
        editor.text = ""
        typed = "SELECT 42 AS answer"
        burst(app, *typed, "f5")
        ended = lambda: app.core.queries.current is not None and app.core.queries.current.done  # noqa: E731
        await until(pilot, lambda: ended() or "nothing to run" in status(app), timeout=30, what="the run")
        assert editor.text == typed and app.core.queries.current is not None
        assert app.core.queries.current.sql == typed  # not the part typed when f5 arrived
        assert status(app).endswith("completed")
        assert app.screen._table.get_row_at(0)[0] == 42
        # The same burst with a query that would run for minutes: escape, a priority key, cancels
        # at once, ahead of anything still queued.
        editor.text = ""
        burst(app, *ENDLESS, "f5")
        await until(pilot, lambda: app.core.queries.counter == 2, what="the second run")
        await wait_running(pilot, until, app)
        assert app.core.queries.current.sql == ENDLESS
        burst(app, "escape")
        await until(pilot, lambda: status(app).endswith("cancelled"), timeout=5, what="cancelled")
        assert app.core.queries.current.handle.outcome.value == "cancelled"


async def test_a_hard_row_limit_shows_of_more(make_app, until, tree_with: Callable[..., Path]) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        app.screen.query_one("#limit", Input).value = "1000"
        line = await run(pilot, until, app, "SELECT * FROM range(1000000) t(n)")
        assert "1,000 of >1,000 rows · completed" in line
        assert app.screen._table.row_count == 1000


async def test_escape_cancels_in_the_engine_and_the_engine_answers_after(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        await start_endless(pilot, until, app)
        assert "running" in status(app)
        handle = app.core.queries.current.handle
        await pilot.press("escape")
        await until(pilot, lambda: status(app).endswith("cancelled"), timeout=5, what="cancelled")
        assert handle.outcome.value == "cancelled"  # stopped in the engine, not just on screen
        assert any(line.kind == "cancelled" and "run 1 on duckdb" in line.message for line in app.core.events)
        assert isinstance(app.focused, TextArea)  # the first escape cancelled; it did not leave the field
        line = await run(pilot, until, app, "SELECT 1")
        assert "completed" in line


async def test_an_engine_slow_to_confirm_a_cancel_shows_cancelling_until_it_does(
    make_app, until, tree_with: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escape paints nothing by itself (a frame of "cancelling…" would delay a quick `cancelled`),
    so the status ticker must say "cancelling…" while an engine takes its time. The slow
    confirmation is played by holding DuckDB's real interrupt until the test lets it go: no engine
    here is slow to stop on cue."""
    import threading

    from textual import events

    from floe_compute_duckdb.connection import DuckDBCursor

    interrupt = DuckDBCursor.interrupt
    confirm = threading.Event()

    def slow_interrupt(self: DuckDBCursor) -> None:
        confirm.wait(10)
        interrupt(self)

    monkeypatch.setattr(DuckDBCursor, "interrupt", slow_interrupt)
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        await start_endless(pilot, until, app)
        app.post_message(events.Key("escape", None))  # as the terminal sends it (press() waits idle)
        try:
            await until(pilot, lambda: status(app).endswith("cancelling…"), timeout=5, what="cancelling…")
        finally:
            confirm.set()  # the engine stops now
        await until(pilot, lambda: status(app).endswith("cancelled"), timeout=5, what="cancelled")


async def test_a_query_past_its_timeout_is_timed_out_and_logged(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        app.screen.query_one("#timeout", Input).value = "0.5"
        line = await run(pilot, until, app, ENDLESS, ends="timed out")
        assert line.startswith("run 1 · duckdb") and line.endswith("· timed out")
        assert any(e.kind == "timed out" and "run 1 on duckdb" in e.message for e in app.core.events)
        assert "timed out after 0.5 s" in results_text(app)


async def test_a_query_error_shows_the_engine_message_and_the_console_stays_usable(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with({"down": {"down": True}}))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        line = await run(pilot, until, app, "SELEC 1", ends="failed")
        assert line.endswith("· failed")
        assert "FLOE-C400" in results_text(app) and "syntax error" in results_text(app).lower()
        assert "completed" in await run(pilot, until, app, "SELECT 1")
        select: Select[str] = app.screen.query_one("#target", Select)
        select.value = "down"
        await run(pilot, until, app, "SELECT 1", ends="failed")
        assert "toy engine is down" in results_text(app)


async def test_a_new_run_drops_the_late_results_of_the_one_it_replaced(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        await start_endless(pilot, until, app)
        first = app.core.queries.current
        line = await run(pilot, until, app, "SELECT 7 AS seven")
        assert line.startswith("run 2 ·") and "completed" in line
        await until(pilot, lambda: first.handle.done, what="the first run to stop in the engine")
        await pilot.pause(0.2)
        assert status(app).startswith("run 2 ·")  # its late `cancelled` did not overwrite run 2
        assert app.screen._table.row_count == 1


async def test_history_survives_a_restart_and_loads_into_the_editor(
    make_app, until, tree_with: Callable[..., Path], tmp_path: Path
) -> None:
    manifests = tree_with()
    data = tmp_path / "xdg" / "floe-tui"
    app = make_app(manifests, data_dir=data)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        await run(pilot, until, app, "SELECT 'remembered' AS word")
    await until_file(data / "history.json")
    saved = json.loads((data / "history.json").read_text())
    assert saved["entries"][-1]["sql"] == "SELECT 'remembered' AS word"
    assert saved["entries"][-1]["outcome"] == "completed"
    again = make_app(manifests, data_dir=data)
    async with again.run_test(size=(120, 40)) as pilot:
        editor = await open_query(pilot, until, again)
        editor.text = ""
        await pilot.press("f2")
        await until(pilot, lambda: again.screen.__class__.__name__ == "HistoryScreen", what="the history")
        await pilot.press("enter")
        await until(pilot, lambda: editor.text == "SELECT 'remembered' AS word", what="the query loaded")


async def until_file(path: Path) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + 5
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written"
        await asyncio.sleep(0.02)


async def test_a_corrupt_history_file_is_set_aside_not_fatal(
    make_app, until, tree_with: Callable[..., Path], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.json").write_text('{"entries": [ this is not json')
    app = make_app(tree_with(), data_dir=data)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        assert app.core.history.entries == []
        assert any("corrupt" in line.message for line in app.core.events)
        aside = list(data.glob("history.json.corrupt-*"))
        assert len(aside) == 1 and "not json" in aside[0].read_text()
        await run(pilot, until, app, "SELECT 1")
    await until_file(data / "history.json")
    assert json.loads((data / "history.json").read_text())["entries"][0]["sql"] == "SELECT 1"


async def test_ctrl_s_exports_the_shown_result_to_csv(
    make_app, until, tree_with: Callable[..., Path], tmp_path: Path
) -> None:
    app = make_app(tree_with())
    target = tmp_path / "out" / "result.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await open_query(pilot, until, app)
        await run(pilot, until, app, "SELECT n, 'row ' || n AS label FROM range(50) t(n)")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ExportScreen", what="the export prompt")
        field = app.screen.query_one("#export-path", Input)
        assert field.value.endswith(".csv")
        field.value = str(target)
        await pilot.press("enter")
        await until(pilot, lambda: target.exists(), what="the CSV file")
    lines = target.read_text().splitlines()
    assert lines[0] == '"n","label"' and len(lines) == 51 and lines[1] == '0,"row 0"'


async def test_the_compute_selector_follows_the_product_selected_in_the_tree(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with({"steady": {}}))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("3")
        select: Select[str] = app.screen.query_one("#target", Select)
        assert [o[0] for o in app.screen._options] == ["duckdb", "steady"]
        await pilot.press("escape", "1")
        billing = ("enterprise:testco", "domain:sales", "product:billing")
        app.screen._select_key(billing)
        await until(pilot, lambda: app.core.selected_product and app.core.selected_product.name == "billing")
        await pilot.press("3")
        await until(pilot, lambda: [o[0] for o in app.screen._options] == ["duckdb"], what="narrowed")
        assert select.value == "duckdb"
        assert "scope: product sales/billing (duckdb)" in str(app.screen.query_one("#scope", Static).content)


async def test_escape_leaves_the_editor_when_nothing_runs_and_then_digits_act(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    app = make_app(tree_with())
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_query(pilot, until, app)
        editor.text = ""
        await pilot.press("1", "2")  # typed into the editor, not switching screens
        assert editor.text == "12" and app.current_mode == "query"
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("1")
        assert app.current_mode == "governance"
