"""The console on the clouds sample: a Snowflake card on the dashboard, SQL on the query screen.

Real plugins throughout (the run's fakesnow server for Snowflake, in-memory DuckDB); Spark's target
is left alone: it is never selected, and the dashboard test stays on the Snowflake card's state,
so no JVM starts.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Select, Static, TextArea

from floe_compute_snowflake.testing import DEMO_PORT
from floe_tui.compute import Discovered, discover_plugins
from floe_tui.testing.servers import ServerProcess
from floe_tui.tui.app import FloeApp

SAMPLE = Path(str(resources.files("floe_tui_samples"))) / "clouds"


@pytest.fixture
def clouds(tmp_path: Path, fakesnow: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOE_DEMO_SNOWFLAKE_PASSWORD", "fakesnow-checks-no-password")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no first-paint snapshot of other runs
    root = Path(shutil.copytree(SAMPLE, tmp_path / "clouds"))
    enterprise = root / "enterprise.yaml"
    enterprise.write_text(enterprise.read_text().replace(f"port: {DEMO_PORT}", f"port: {fakesnow.port}"))
    return root


async def _until(pilot: Any, condition: Any, what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)


def _app(clouds: Path, tmp_path: Path, plugins: Discovered) -> FloeApp:
    return FloeApp(
        clouds, plugins=plugins, data_dir=tmp_path / "data", watch_files=False, health_timeout_s=5.0
    )


def _status(app: FloeApp) -> str:
    content = app.screen.query_one("#query-status", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def test_query_screen_runs_sql_on_snowflake(clouds: Path, tmp_path: Path) -> None:
    app = _app(clouds, tmp_path, discover_plugins())
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: app.core.plan is not None, "the plan")
            await pilot.press("3")
            await _until(pilot, lambda: isinstance(app.focused, TextArea), "the editor focused")
            select: Select[str] = app.screen.query_one("#target", Select)
            select.value = "snowflake"
            app.screen.query_one("#editor", TextArea).text = "SELECT 6 * 7 AS answer"
            before = app.core.queries.counter
            await pilot.press("f5")
            await _until(
                pilot,
                lambda: app.core.queries.counter > before and _status(app).endswith("completed"),
                f"`completed` (the status reads {_status(app)!r})",
            )
            line = _status(app)
            assert " snowflake " in line and "1 rows" in line
            assert app.screen._table is not None and app.screen._table.get_row_at(0)[0] == 42
    finally:
        app.close_engines(timeout_s=5.0)


def _card_text(app: FloeApp, target: str) -> str:
    from floe_tui.tui.dashboard_screen import TargetCard

    return next(card for card in app.screen.query(TargetCard) if card.target == target).text


async def test_dashboard_card_logs_in_on_request_only(clouds: Path, tmp_path: Path) -> None:
    """A Snowflake card does not log in on first view (it would wake a warehouse); ctrl+r does."""
    from floe_compute_spark import SparkComputePlugin

    class SparkNotOnView(SparkComputePlugin):  # keeps this test from starting a JVM
        connect_on_view = False

    found = discover_plugins()
    plugins = Discovered(plugins={**found.plugins, "spark": SparkNotOnView})
    app = FloeApp(
        clouds, plugins=plugins, data_dir=tmp_path / "data", watch_files=False, health_timeout_s=5.0
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: app.core.plan is not None, "the plan")
            await pilot.press("2")
            await _until(pilot, lambda: "[OK]" in _card_text(app, "duckdb"), "the DuckDB card healthy")
            before = _card_text(app, "snowflake")
            assert "[OK]" not in before, before
            await pilot.press("ctrl+r")
            await _until(
                pilot,
                lambda: "[OK] healthy" in _card_text(app, "snowflake"),
                f"the Snowflake card healthy (it reads {_card_text(app, 'snowflake')!r})",
            )
    finally:
        app.close_engines(timeout_s=5.0)
