"""Engine calls with a deadline: run on a reused daemon thread, abandoned when they overrun.

A network client can hang past its own socket timeout, and a hook that hangs must not hold its
caller (a query, a health poll, ``connect()``) past the budget it was given. The call runs on a
worker thread; the caller waits at most `seconds`. An overrunning call is left to finish on its
daemon thread, and whatever it returns late is handed to `on_late` so that nothing it opened
stays open. Idle workers are reused (a poll every second must not start threads every second)
and exit after a minute without work.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from floe_tui.compute.errors import ConnectTimeoutError

T = TypeVar("T")
log = logging.getLogger("floe_tui.compute.bounded")
_IDLE_EXIT_S = 60.0
_Job = Callable[[], None]


class _Worker:
    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="floe-bounded", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=_IDLE_EXIT_S)
            except queue.Empty:
                with _lock:
                    if self in _idle:  # nobody handed us a job while we timed out
                        _idle.remove(self)
                        return
                continue
            job()
            with _lock:
                _idle.append(self)


_lock = threading.Lock()
_idle: list[_Worker] = []


def spawn(job: Callable[[], None]) -> None:
    """Run `job` on a reused daemon worker (a new one only when every worker is busy).

    For background work that must not cost a thread start each time, such as a health poll every
    second; `job` handles its own errors.
    """
    with _lock:
        worker = _idle.pop() if _idle else None
    (worker or _Worker()).jobs.put(job)


def run_bounded(
    seconds: float, call: Callable[[], T], overrun: str, *, on_late: Callable[[T], None] | None = None
) -> T:
    """`call()` within `seconds`, or ConnectTimeoutError "<overrun> within N s"; its errors propagate.

    `overrun` says what did not happen in time: "target 'lake' did not open".
    """
    done = threading.Event()
    lock = threading.Lock()
    outcome: list[T] = []
    failure: list[BaseException] = []
    abandoned = False

    def job() -> None:
        try:
            value = call()
        except BaseException as exc:
            failure.append(exc)
            done.set()
            return
        with lock:
            late = abandoned
            outcome.append(value)
        done.set()
        if late and on_late is not None:
            try:
                on_late(value)
            except Exception as exc:  # cleaning up after an abandoned call must not kill the worker
                log.warning("cleaning up after a late call failed (%s): %s", overrun, type(exc).__name__)

    spawn(job)
    if not done.wait(max(0.0, seconds)):
        with lock:
            abandoned = not outcome
        if abandoned:
            raise ConnectTimeoutError(f"{overrun} within {max(0.0, seconds):.3g} s")
    if failure:
        raise failure[0]
    return outcome[0]
