"""The console with a Databricks target that cannot answer (127.0.0.1, a closed port).

Its card shows the connector's reason once the user asks to connect (ctrl+r: a Databricks target
never connects on first view), and the rest of the console, DuckDB's card and the query screen,
works as if it were not there. The real plugin and connector, the real console (Pilot).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static, TextArea

from floe_tui.tui.app import FloeApp
from floe_tui.tui.dashboard_screen import TargetCard

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests" / "closed-port"


def card_text(app: FloeApp, target: str) -> str:
    return next(card for card in app.screen.query(TargetCard) if card.target == target).text


async def until(pilot: Any, condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def test_a_closed_port_shows_the_connectors_reason_and_the_rest_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_TEST_DATABRICKS_TOKEN", "dapi-not-a-real-token")
    app = FloeApp(MANIFESTS, data_dir=tmp_path / "data", watch_files=False, health_timeout_s=5.0)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.core.plan is not None, "the plan")
            await pilot.press("2")
            await until(pilot, lambda: "[OK] healthy" in card_text(app, "duckdb"), "DuckDB healthy")
            assert "not connected" in card_text(app, "databricks")  # no session on first view
            await pilot.press("ctrl+r")  # the explicit request that connects it
            await until(pilot, lambda: "[FAIL]" in card_text(app, "databricks"), "the failed card")
            text = card_text(app, "databricks")
            assert "refused" in text.lower() and "dapi-not-a-real-token" not in text
            assert "[OK] healthy" in card_text(app, "duckdb")
            await pilot.press("3")
            editor = app.screen.query_one("#editor", TextArea)
            editor.text = "SELECT 42 AS answer"
            await pilot.press("f5")
            status = lambda: str(app.screen.query_one("#query-status", Static).content)  # noqa: E731
            await until(pilot, lambda: status().endswith("completed"), "the DuckDB query")
    finally:
        app.close_engines(timeout_s=5.0)
