"""`?`: every key binding of the console, by screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA: list[tuple[str, str, str]] = [
    ("everywhere", "ctrl+p", "command palette: every action, and the theme"),
    ("everywhere", "tab / shift+tab", "move the focus"),
    ("governance", "enter / space", "expand or collapse the tree node"),
    ("governance", "up / down", "move in the tree; the detail pane follows"),
    ("query", "ctrl+enter", "run (terminals that cannot send it, tmux among them: f5)"),
    ("query", "escape", "cancel the running query; otherwise leave the focused field"),
]


def binding_rows(app_bindings: Sequence[BindingType] | None = None) -> list[tuple[str, str, str]]:
    """(where, keys, what) of every binding; `app_bindings` are the running app's own."""
    from floe_tui.tui.dashboard_screen import DashboardScreen
    from floe_tui.tui.governance_screen import GovernanceScreen
    from floe_tui.tui.query_screen import QueryScreen

    if app_bindings is None:
        from floe_tui.tui.app import FloeApp

        app_bindings = FloeApp.BINDINGS
    rows: list[tuple[str, str, str]] = []
    for where, bindings in (
        ("everywhere", app_bindings),
        ("governance", GovernanceScreen.BINDINGS),
        ("dashboard", DashboardScreen.BINDINGS),
        ("query", QueryScreen.BINDINGS),
    ):
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            keys = " / ".join(k.strip() for k in binding.key.split(","))
            display = keys.replace("question_mark", "?").replace("slash", "/")
            display = display.replace("plus", "+").replace("minus", "-").replace("equals_sign", "=")
            rows.append((where, display, binding.description or binding.action))
    rows.extend(EXTRA)
    order = ["everywhere", "governance", "dashboard", "query"]
    return sorted(rows, key=lambda r: order.index(r[0]))


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table(title="floe-tui keys (escape, ? or q closes)", expand=True)
        table.add_column("where")
        table.add_column("key")
        table.add_column("action")
        for where, key, what in binding_rows(self.app.BINDINGS):
            table.add_row(where, key, what)
        note = (
            "Digits and single letters act only while no text field has focus. "
            "Engines connect lazily: on the first dashboard view, the first query, or ctrl+r."
        )
        with Vertical(classes="dialog", id="help-dialog"), VerticalScroll():
            yield Static(table, id="help-table")
            yield Static(note, id="help-note")
