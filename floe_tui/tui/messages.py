"""Messages that engine and file workers post to the UI thread (they never touch a widget)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    import pyarrow as pa

    from floe_tui.governance import Plan
    from floe_tui.monitor import MonitorEvent, TargetSample


@dataclass(frozen=True)
class LogLine:
    """One line of the console's event log."""

    at: datetime
    source: str
    kind: str
    message: str


class PlanLoaded(Message):
    """A compiled Plan, or the first-paint snapshot of one (`floe_tui.tui.snapshot.LightPlan`)."""

    def __init__(self, plan: Plan | Any | None, error: str | None, seconds: float) -> None:
        super().__init__()
        self.plan = plan
        self.error = error
        self.seconds = seconds


class ManifestsChanged(Message):
    """A manifest file changed on disk: reload."""


class SampleArrived(Message):
    def __init__(self, sample: TargetSample) -> None:
        super().__init__()
        self.sample = sample


class MonitorEventArrived(Message):
    def __init__(self, event: MonitorEvent) -> None:
        super().__init__()
        self.event = event


class QueryStarted(Message):
    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id


class QueryPage(Message):
    """A page of rows of run `run_id` (one Arrow table of one or more record batches)."""

    def __init__(self, run_id: int, table: pa.Table, columns: list[tuple[str, str]]) -> None:
        super().__init__()
        self.run_id = run_id
        self.table = table
        self.columns = columns


class QueryFinished(Message):
    def __init__(
        self,
        run_id: int,
        outcome: str,
        rows: int,
        truncated: bool,
        elapsed_s: float,
        error: str | None,
        columns: list[tuple[str, str]],
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.outcome = outcome
        self.rows = rows
        self.truncated = truncated
        self.elapsed_s = elapsed_s
        self.error = error
        self.columns = columns


class ExportFinished(Message):
    def __init__(self, path: str, rows: int, error: str | None) -> None:
        super().__init__()
        self.path = path
        self.rows = rows
        self.error = error
