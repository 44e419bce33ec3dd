"""The shared timeout thread: fires due callbacks in order, never cancelled ones."""

from __future__ import annotations

import threading

from floe_tui.compute.watchdog import Watchdog


def test_fires_due_callbacks_in_deadline_order_and_skips_cancelled_ones() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    watchdog.schedule(0.05, lambda: fired.append("second"))
    cancelled = watchdog.schedule(0.01, lambda: fired.append("cancelled"))
    watchdog.schedule(0.02, lambda: fired.append("first"))
    watchdog.schedule(0.08, done.set)
    watchdog.cancel(cancelled)
    assert done.wait(5)
    assert fired == ["first", "second"]


def test_many_cancelled_entries_are_compacted_away() -> None:
    watchdog = Watchdog()
    tickets = [watchdog.schedule(300, lambda: None) for _ in range(200)]
    for ticket in tickets:
        watchdog.cancel(ticket)
    assert len(watchdog._heap) < 100  # the queries ended long before their 300 s timeouts
    fired = threading.Event()
    watchdog.schedule(0.01, fired.set)
    assert fired.wait(5)
