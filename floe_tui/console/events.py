"""The console's event log: status changes, reconnects, timeouts, cancels, reloads, notices.

Bounded (the last `EVENT_LOG_LINES` lines). Lines are added on one thread, the owner's (the UI
thread in the console); a listener is told of each new line, so a screen can append it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

EVENT_LOG_LINES = 500


@dataclass(frozen=True)
class LogLine:
    """One line of the console's event log."""

    at: datetime
    source: str
    kind: str
    message: str


class EventLog:
    def __init__(self, clock: Callable[[], datetime], limit: int = EVENT_LOG_LINES) -> None:
        self._clock = clock
        self._lines: deque[LogLine] = deque(maxlen=limit)
        self._listeners: list[Callable[[LogLine], None]] = []

    def log(self, source: str, kind: str, message: str) -> LogLine:
        line = LogLine(self._clock(), source, kind, message)
        self._lines.append(line)
        for listener in list(self._listeners):
            listener(line)
        return line

    def listen(self, listener: Callable[[LogLine], None]) -> None:
        self._listeners.append(listener)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(list(self._lines))

    def __len__(self) -> int:
        return len(self._lines)
