"""Persisted query history of the console (no Textual here).

Stored as JSON under the user's data directory: ``$FLOE_DATA_DIR`` if set, else
``$XDG_DATA_HOME/floe-tui``, else ``~/.local/share/floe-tui`` (the XDG default). Every write
goes to a temporary file in the same directory that then replaces the old one, so a crash
never leaves half a file; a file that does not parse is moved aside
(``history.json.corrupt-<time>``) and the console starts with an empty history.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.json"
MAX_ENTRIES = 500


def data_dir() -> Path:
    """Where the console keeps its files (created on first write, not here)."""
    configured = os.environ.get("FLOE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else None
    return (base or Path.home() / ".local" / "share") / "floe-tui"


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


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
