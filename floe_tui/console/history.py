"""Persisted query history of the console (no Textual here).

Stored as JSON under the user's data directory (`floe_tui.console.files`), written atomically; a
file that does not parse is moved aside (``history.json.corrupt-<time>``) and the console starts
with an empty history.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from floe_tui.console.files import atomic_write_text, data_dir

HISTORY_FILE = "history.json"
MAX_ENTRIES = 500


@dataclass(frozen=True)
class HistoryEntry:
    sql: str
    target: str
    at: str
    outcome: str = ""
    rows: int = 0
    elapsed_s: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> HistoryEntry:
        if not isinstance(data, dict) or not isinstance(data.get("sql"), str):
            raise ValueError("a history entry needs `sql`")
        return cls(
            sql=data["sql"],
            target=str(data.get("target", "")),
            at=str(data.get("at", "")),
            outcome=str(data.get("outcome", "")),
            rows=int(data.get("rows", 0)),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
        )


class QueryHistory:
    """Newest entry last; at most `limit` entries kept."""

    def __init__(self, directory: Path | None = None, limit: int = MAX_ENTRIES) -> None:
        self.directory = directory or data_dir()
        self.path = self.directory / HISTORY_FILE
        self.limit = limit
        self.entries: list[HistoryEntry] = []
        #: Set when loading found a problem worth telling the user (the console shows it).
        self.notice: str | None = None
        self._lock = threading.Lock()

    def load(self) -> list[HistoryEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.entries
        except (OSError, UnicodeDecodeError) as exc:
            self._set_aside(f"cannot read {self.path.name} ({type(exc).__name__})")
            return self.entries
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
                raise ValueError("no `entries` list")
            self.entries = [HistoryEntry.from_json(item) for item in data["entries"]][-self.limit :]
        except (ValueError, TypeError) as exc:
            self._set_aside(f"{self.path.name} is corrupt ({exc.__class__.__name__})")
        return self.entries

    def add(self, entry: HistoryEntry) -> None:
        """Append in memory; call `save()` (off the UI thread) to persist."""
        with self._lock:
            if self.entries and self.entries[-1].sql == entry.sql and self.entries[-1].target == entry.target:
                self.entries[-1] = entry
            else:
                self.entries.append(entry)
            del self.entries[: -self.limit]

    def save(self) -> None:
        with self._lock:
            payload = {"version": 1, "entries": [asdict(e) for e in self.entries]}
        atomic_write_text(self.path, json.dumps(payload, indent=1))

    def _set_aside(self, why: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, aside)
            self.notice = f"query history: {why}; moved aside to {aside.name}, starting afresh"
        except OSError:
            self.notice = f"query history: {why}; starting afresh"
        self.entries = []
