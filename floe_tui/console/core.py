"""`ConsoleCore`: everything the console knows and does, without a screen.

The Textual app hosts one: it runs `plans.load()` and query streams on its thread workers, turns
the monitor's callbacks into messages, and calls the core back on its UI thread with what they
brought. The screens read the core and call its methods for the user's intents; the core never
calls a screen. Every method here is for the owner's thread and returns at once: nothing in it
waits on an engine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from floe_tui.console.engines import Engines
from floe_tui.console.events import EventLog
from floe_tui.console.plans import Applied, Loaded, Plans

if TYPE_CHECKING:
    from floe_tui.compute import ComputeRegistry
    from floe_tui.compute.discovery import Discovered
    from floe_tui.console.history import QueryHistory
    from floe_tui.console.prefetch import PlanPrefetch
    from floe_tui.console.queries import QueryRuns
    from floe_tui.monitor import HealthMonitor, MonitorEvent, TargetSample
    from floe_tui.planmodel import Diagnostic, Level, PlanModel

#: Source lines shown on each side of a diagnostic's line.
EXCERPT_CONTEXT = 3


def process_stats_reader() -> Callable[[], tuple[float, int]]:
    """CPU (% of one core since the previous call) and RSS (bytes) of this process."""
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)

    def read() -> tuple[float, int]:
        return process.cpu_percent(None), process.memory_info().rss

    return read


class ConsoleCore:
    """Plans, engines, query runs, history and event log of one console session.

    `on_sample` and `on_event` are called on the monitor's threads (the host posts them to its
    own thread and hands them back through `sample_arrived` and `monitor_event`). Parameters
    other than `manifests`/`env` exist for tests and benchmarks.
    """

    def __init__(
        self,
        manifests: Path,
        env: str | None = None,
        *,
        on_sample: Callable[[TargetSample], None],
        on_event: Callable[[MonitorEvent], None],
        plugins: Discovered | None = None,
        prefetch: PlanPrefetch | None = None,
        data_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        process_stats: Callable[[], tuple[float, int]] | None = None,
        interval_s: float = 1.0,
        health_timeout_s: float = 5.0,
        diff_base: Path | None = None,
    ) -> None:
        self.manifests = manifests
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.monotonic = monotonic or time.monotonic
        self._process_stats = process_stats
        self.plans = Plans(
            manifests,
            env or os.environ.get("FLOE_ENV") or "dev",
            plugins=plugins,
            prefetch=prefetch,
            diff_base=diff_base,
        )
        self.events = EventLog(self.clock)
        self._data_dir = data_dir
        self.engines = Engines(
            None,
            self.plans.env,
            on_sample=on_sample,
            on_event=on_event,
            interval_s=interval_s,
            timeout_s=health_timeout_s,
            on_monitor_started=self._monitor_started,
        )

    # The query history and runs are made (and their modules imported) on first use: the
    # console's first paint needs neither, and `start` comes after it.
    @cached_property
    def history(self) -> QueryHistory:
        from floe_tui.console.history import QueryHistory

        return QueryHistory(self._data_dir)

    @cached_property
    def queries(self) -> QueryRuns:
        from floe_tui.console.queries import QueryRuns

        return QueryRuns(self.history, self.events, clock=self.clock, monotonic=self.monotonic)

    def start(self) -> str | None:
        """Read the history; returns a notice for the user if it could not be read."""
        self.history.load()
        if self.history.notice:
            self.events.log("console", "history", self.history.notice)
        return self.history.notice

    # -- the plan ----------------------------------------------------------------------------
    @property
    def plan(self) -> PlanModel | None:
        """What the screens show: the first-paint snapshot, then the compiled plan."""
        return self.plans.model

    @property
    def plan_error(self) -> str | None:
        return self.plans.error

    @property
    def plan_generation(self) -> int:
        return self.plans.generation

    @property
    def env(self) -> str:
        return self.plans.env

    @property
    def selected_product(self) -> Level | None:
        return self.plans.selected_product

    def select_product(self, product: Level | None) -> None:
        """The product selected in the governance tree (None: none is); the query pane narrows to it."""
        self.plans.select_product(product)

    def plan_loaded(self, loaded: Loaded) -> Applied:
        """Take a `plans.load()` result in: the plan, the engines that follow it, the log."""
        applied = self.plans.apply(loaded)
        if applied.reloaded:
            plan = self.plans.model
            errors = sum(d.is_error for d in plan.diagnostics) if plan else 0
            self.events.log("governance", "reload", f"manifests reloaded: {errors} error(s)")
        if self.plans.compiling:
            self.engines.refresh(None, waiting=True)  # engines are built from the real plan only
        else:
            self.engines.refresh(self.plans.compiled, self.plans.env, problem=self.plans.error)
        return applied

    def source_lines(self, diagnostic: Diagnostic) -> list[tuple[int, str]]:
        """The numbered source lines around a diagnostic, secrets masked (read ahead, or now)."""
        plan = self.plans.model
        if plan is None:
            return []
        if diagnostic in plan.excerpts:
            return list(plan.excerpts[diagnostic])
        from floe_tui.governance.diagnostics import excerpt

        base = plan.root if plan.root.is_dir() else plan.root.parent
        return excerpt(base / diagnostic.file, diagnostic.line, EXCERPT_CONTEXT)

    # -- engines -----------------------------------------------------------------------------
    def registry(self) -> ComputeRegistry | None:
        """The approved targets of this environment; builds no connection."""
        return self.engines.registry()

    @property
    def registry_error(self) -> str | None:
        return self.engines.error

    def query_registry(self) -> ComputeRegistry | None:
        """The registry the query pane chooses from: narrowed to the selected product's set."""
        return self.engines.query_registry(self.plans.selected_product)

    @property
    def monitor(self) -> HealthMonitor | None:
        return self.engines.monitor

    def ensure_monitor(self) -> HealthMonitor | None:
        """Start polling (and so connecting) every approved target; called on first need."""
        return self.engines.ensure_monitor()

    def _monitor_started(self, monitor: HealthMonitor) -> None:
        every = f"every {self.engines.interval_s:g} s"
        self.events.log("dashboard", "monitor", f"polling {len(monitor.targets)} target(s) {every}")

    @property
    def samples(self) -> dict[str, TargetSample]:
        return self.engines.samples

    def sample_arrived(self, sample: TargetSample) -> bool:
        """Keep a sample the monitor sent; False if it came from a monitor since replaced."""
        return self.engines.accept_sample(sample)

    def monitor_event(self, event: MonitorEvent) -> None:
        self.events.log(event.target, event.kind, event.message)

    @property
    def interval_s(self) -> float:
        return self.engines.interval_s

    def set_interval(self, seconds: float) -> float:
        return self.engines.set_interval(seconds)

    def toggle_pause(self) -> bool | None:
        """Pause or resume polling (starting it first if need be); the new paused state, or None."""
        monitor = self.ensure_monitor()
        if monitor is None:
            return None
        if monitor.paused:
            monitor.resume()
            self.events.log("dashboard", "monitor", "polling resumed")
        else:
            monitor.pause()
            self.events.log("dashboard", "monitor", "polling paused")
        return monitor.paused

    def poll_now(self) -> None:
        """The user's explicit request: poll every target now, connecting those that wait for one."""
        monitor = self.ensure_monitor()
        if monitor is not None:
            monitor.poll_now(connect=True)

    def process_stats(self) -> tuple[float, int]:
        if self._process_stats is None:
            self._process_stats = process_stats_reader()
        return self._process_stats()

    # -- closing -----------------------------------------------------------------------------
    def close_async(self) -> threading.Thread:
        """Stop watching and polling, cancel the running query, close the pools on a thread."""
        self.plans.stop()
        if "queries" in self.__dict__:  # made: a query may be running
            self.queries.cancel(log=False)
        closer = self.engines.release()
        if closer is None:
            closer = threading.Thread(target=lambda: None, name="floe-disconnect", daemon=True)
            closer.start()
        return closer

    def close(self, timeout_s: float = 3.0) -> None:
        """`close_async`, waiting at most `timeout_s`. Blocks: after the app exited, or in tests."""
        self.close_async().join(timeout_s)
