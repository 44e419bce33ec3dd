"""The app as a whole: help, command palette, themes, NO_COLOR, small terminals, quitting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Static, TextArea

from floe_tui.governance import default_manifests
from floe_tui.tui.app import PALETTE, FloeApp, load_themes
from floe_tui.tui.dashboard_screen import DashboardScreen
from floe_tui.tui.governance_screen import GovernanceScreen
from floe_tui.tui.help import binding_rows
from floe_tui.tui.query_screen import QueryScreen


def test_the_theme_files_load_dark_light_and_high_contrast() -> None:
    themes, problems = load_themes()
    assert problems == []
    names = {theme.name for theme in themes}
    assert {"floe-dark", "floe-light", "floe-high-contrast"} <= names
    assert next(t for t in themes if t.name == "floe-light").dark is False


def test_help_lists_every_binding_of_every_screen() -> None:
    rows = binding_rows()
    described = {what for _, _, what in rows}
    for owner in (FloeApp, GovernanceScreen, DashboardScreen, QueryScreen):
        for binding in owner.BINDINGS:
            assert binding.description in described, binding
    keys = {key for _, key, _ in rows}
    for expected in [
        "1",
        "2",
        "3",
        "?",
        "n",
        "N",
        "/",
        "r",
        "p",
        "+",
        "-",
        "ctrl+r",
        "ctrl+enter / f5",
        "escape",
        "ctrl+s",
        "f2",
        "ctrl+p",
        "ctrl+q",
    ]:
        assert expected in keys, expected


async def test_question_mark_opens_the_help_and_escape_closes_it(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="the help")
        text = str(app.screen.query_one("#help-note", Static).content)
        assert "Digits and single letters" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, GovernanceScreen), what="the help closed")


async def test_every_action_is_in_the_command_palette(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title, *_ in PALETTE:
            assert title in titles
        assert "Theme" in titles and "Quit" in titles
        actions = {action.split("(")[0] for *_, action in PALETTE}
        for owner in (FloeApp, GovernanceScreen, DashboardScreen, QueryScreen):
            for binding in owner.BINDINGS:
                assert binding.action.split("(")[0] in actions | {"quit", "clear_filter"}, binding.action
        # A palette command runs on its screen: "Query screen" then "Next diagnostic" back on governance.
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Query screen")
        await command.callback()
        await until(pilot, lambda: app.current_mode == "query")


async def test_a_theme_is_chosen_from_the_command_palette(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        assert app.theme == "floe-dark"
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
        await pilot.press(*"theme")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the theme list")
        await pilot.press(*"floe-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "floe-light", what="the light theme")


async def test_no_color_starts_in_the_high_contrast_theme(
    make_app, until, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        assert app.no_color and app.theme == "floe-high-contrast"


@pytest.mark.parametrize("size", [(80, 24)])
async def test_a_small_terminal_still_works_on_every_screen(
    make_app, until, tree_with: Callable[..., Path], size: tuple[int, int]
) -> None:
    app = make_app(tree_with({"steady": {}}))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("n", "down", "down", "enter", "pagedown")
        await pilot.press("2")
        await until(pilot, lambda: len(app.core.samples) == 2, what="samples")
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.focused, TextArea), what="the editor")
        app.focused.text = "SELECT * FROM range(500) t(n)"
        await pilot.press("f5")
        await until(pilot, lambda: app.core.queries.current and app.core.queries.current.done, what="a run")
        await pilot.press("escape", "1", "question_mark")
        await pilot.press("escape")
        assert app.is_running


async def test_ctrl_q_quits_within_its_budget_with_engines_connected(
    make_app, until, tree_with: Callable[..., Path]
) -> None:
    import time

    app = make_app(tree_with({"steady": {}}))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None)
        await pilot.press("2")
        await until(pilot, lambda: len(app.core.samples) == 2)
        started = time.monotonic()
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, timeout=5, what="the exit")
        assert time.monotonic() - started < 3.5
    assert app.return_code == 0
