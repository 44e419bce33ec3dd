"""Small modal screens of the query pane: the history picker and the CSV export prompt."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from floe_tui.console.history import HistoryEntry


class HistoryScreen(ModalScreen[HistoryEntry | None]):
    """Pick a past query (newest first); enter loads it into the editor."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, entries: list[HistoryEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Query history · enter loads a query · escape closes", classes="pane-title")
            yield OptionList(
                *(
                    Option(
                        Text.assemble(
                            (f"{e.at[:19]:<19} ", "dim"),
                            f"{e.target:<10} {e.outcome.replace('_', ' '):<10} {e.rows:>8,} rows  ",
                            (" ".join(e.sql.split())[:80], "bold"),
                        )
                    )
                    for e in self.entries
                ),
                id="history-list",
            )

    @on(OptionList.OptionSelected, "#history-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.entries[event.option_index])


class ExportScreen(ModalScreen[str | None]):
    """Ask where the CSV goes; enter writes it, escape gives up."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, default_path: str, rows: int) -> None:
        super().__init__()
        self.default_path = default_path
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Export the {self.rows:,} shown rows to CSV · enter writes · escape cancels")
            yield Input(self.default_path, id="export-path")

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
