"""Messages of the console: workers report by them (they never touch a widget), screens ask by them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from floe_tui.console.plans import Loaded
    from floe_tui.console.queries import Finished, Page
    from floe_tui.monitor import MonitorEvent


class PlanLoaded(Message):
    """A compiled plan, or the first-paint snapshot of one, or why there is none."""

    def __init__(self, loaded: Loaded) -> None:
        super().__init__()
        self.loaded = loaded


class ManifestsChanged(Message):
    """A manifest file changed on disk: reload."""


class ReloadRequested(Message):
    """The user asked for the manifests to be compiled again (`r`)."""


class SamplesArrived(Message):
    """Samples are waiting in the app's inbox (one message for a round of polls, not one each)."""


class MonitorEventArrived(Message):
    def __init__(self, event: MonitorEvent) -> None:
        super().__init__()
        self.event = event


class QueryPage(Message):
    """A page of rows of a query run (`floe_tui.console.queries.stream`)."""

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page


class QueryFinished(Message):
    """How a query run ended."""

    def __init__(self, finished: Finished) -> None:
        super().__init__()
        self.finished = finished


class ExportFinished(Message):
    def __init__(self, path: str, rows: int, error: str | None) -> None:
        super().__init__()
        self.path = path
        self.rows = rows
        self.error = error
