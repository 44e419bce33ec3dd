"""One thread that fires every query's timeout, instead of a timer thread per query."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

_order = itertools.count()


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._pending: set[int] = set()
        self._cancelled: set[int] = set()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> int:
        """Call `callback` on the watchdog thread in `delay_s` seconds; returns a ticket to cancel."""
        ticket = next(_order)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, ticket, callback))
            self._pending.add(ticket)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="floe-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return ticket

    def cancel(self, ticket: int) -> None:
        with self._cond:
            if ticket not in self._pending:
                return  # fired already
            self._pending.discard(ticket)
            self._cancelled.add(ticket)
            if len(self._cancelled) > 64 and len(self._cancelled) > len(self._heap) // 2:
                # Most queries end long before their timeout: drop their entries in one pass.
                self._heap = [entry for entry in self._heap if entry[1] not in self._cancelled]
                heapq.heapify(self._heap)
                self._cancelled.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                due, ticket, callback = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._pending.discard(ticket)
                if ticket in self._cancelled:
                    self._cancelled.discard(ticket)
                    continue
            callback()  # outside the lock: a callback may schedule or cancel


WATCHDOG = Watchdog()
