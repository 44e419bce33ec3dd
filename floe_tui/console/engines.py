"""The approved targets of one environment: their registry and the monitor that polls them.

Shared by the console's dashboard and query pane and by `floe-tui monitor`. Nothing connects
until it must: `registry()` builds plugin instances (no connection); `ensure_monitor()` starts
the health polls, which connect. A reloaded plan keeps the registry, its pools and the monitor
while the targets' configurations are unchanged. Closing runs on a thread of its own: the
caller never waits on an engine (or waits a bounded time, with `close`).

Methods are called on one thread, the owner's (the console's UI thread); `on_sample` and
`on_event` are called on the monitor's threads, so the console turns them into messages.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from floe_tui.compute import ComputeRegistry
    from floe_tui.governance import Plan
    from floe_tui.monitor import HealthMonitor, MonitorEvent, TargetSample
    from floe_tui.planmodel import Level

#: Budget for closing monitor and pools once the owner is done (quitting, `monitor` on SIGTERM).
CLOSE_BUDGET_S = 3.0
#: What a query worker left behind may take to finish once its pool is closed.
QUERY_THREADS_BUDGET_S = 2.0


class Engines:
    """Registry and monitor lifecycle of the approved targets of `env` in `plan`.

    `plan` is a compiled plan or None (`problem` then says why there is none). `targets` polls
    only those targets (the monitor's `--compute`); all approved ones when None.
    `on_monitor_started` is called (on the owner's thread) each time a monitor starts polling.
    """

    def __init__(
        self,
        plan: Plan | None,
        env: str,
        *,
        on_sample: Callable[[TargetSample], None],
        on_event: Callable[[MonitorEvent], None],
        interval_s: float = 1.0,
        timeout_s: float = 5.0,
        targets: Collection[str] | None = None,
        problem: str | None = None,
        on_monitor_started: Callable[[HealthMonitor], None] | None = None,
    ) -> None:
        self._on_sample = on_sample
        self._on_event = on_event
        self._on_monitor_started = on_monitor_started
        self._interval_s = interval_s
        self.timeout_s = timeout_s
        self._targets = None if targets is None else list(targets)
        self._plan: Plan | None = None
        self._env = env
        self._problem: str | None = None
        self._waiting = False
        self._key: tuple[str, ...] | None = None
        self._registry: ComputeRegistry | None = None
        self._error: str | None = None
        self._monitor: HealthMonitor | None = None
        #: The last sample of each polled target (kept by `accept_sample`, on the owner's thread).
        self.samples: dict[str, TargetSample] = {}
        self.refresh(plan, env, problem=problem)

    # -- the plan ----------------------------------------------------------------------------
    def refresh(
        self, plan: Plan | None, env: str | None = None, *, problem: str | None = None, waiting: bool = False
    ) -> None:
        """Follow a new plan; the registry (and its pools and polls) stay while nothing they use changed.

        `waiting`: a real plan is being compiled (the console shows a snapshot meanwhile): no
        registry until it comes, and no error either; what exists is kept.
        """
        self._waiting = waiting
        if waiting:
            return
        self._plan, self._problem = plan, problem
        if env is not None:
            self._env = env
        key: tuple[str, ...] = ()
        if plan is not None:
            configs = [c.model_dump_json() for c in plan.targets.get(self._env, [])]
            key = (self._env, *configs, *(level.default or "" for level in plan.enterprises))
        if key == self._key:
            return
        had_monitor = self._monitor is not None
        self.release()
        self._key = key
        self._registry, self._error = None, None
        if had_monitor:
            self.ensure_monitor()

    @property
    def waiting(self) -> bool:
        """True while the registry waits for a compiled plan."""
        return self._waiting

    @property
    def env(self) -> str:
        return self._env

    # -- the registry ------------------------------------------------------------------------
    def registry(self) -> ComputeRegistry | None:
        """The approved targets as a registry (built once, connecting nothing); None with `error` set."""
        if self._waiting:
            return None
        if self._plan is None:
            self._error = self._problem or "the manifests are not loaded"
            return None
        if self._registry is None and self._error is None:
            from floe_tui.compute import ComputeError

            try:
                self._registry = self._plan.registry(self._env)
            except ComputeError as exc:
                self._error = f"{exc.message} (hint: {exc.hint})"
        return self._registry

    @property
    def error(self) -> str | None:
        """Why `registry()` gave None (None while waiting for a plan, or before it was asked)."""
        return self._error

    def query_registry(self, product: Level | None) -> ComputeRegistry | None:
        """The registry a query chooses from: narrowed to `product`'s approved set, if one is given."""
        registry = self.registry()
        if registry is None or product is None:
            return registry
        usable = [name for name in product.approved if name in registry]
        if not usable:
            return None
        return registry.restricted(usable, product.default if product.default in usable else None)

    # -- the monitor -------------------------------------------------------------------------
    @property
    def monitor(self) -> HealthMonitor | None:
        return self._monitor

    def ensure_monitor(self) -> HealthMonitor | None:
        """Start polling (and so connecting) the targets; a no-op once started."""
        if self._monitor is not None:
            return self._monitor
        registry = self.registry()
        if registry is None:
            return None
        from floe_tui.monitor import HealthMonitor

        names = [n for n in registry.names if self._targets is None or n in self._targets]
        self._monitor = HealthMonitor(
            {name: registry.get(name) for name in names},
            on_sample=self._on_sample,
            on_event=self._on_event,
            interval_s=self._interval_s,
            timeout_s=self.timeout_s,
        )
        self._monitor.start()
        if self._on_monitor_started is not None:
            self._on_monitor_started(self._monitor)
        return self._monitor

    def accept_sample(self, sample: TargetSample) -> bool:
        """Keep a sample that arrived (on the owner's thread); False if its monitor is gone."""
        monitor = self._monitor
        if monitor is None or sample.target not in monitor.targets:
            return False
        self.samples[sample.target] = sample
        return True

    @property
    def interval_s(self) -> float:
        return self._interval_s

    def set_interval(self, seconds: float) -> float:
        """The poll interval, clamped to the monitor's bounds; returns what was set."""
        from floe_tui.monitor import clamp_interval

        self._interval_s = clamp_interval(seconds)
        if self._monitor is not None:
            self._monitor.interval_s = self._interval_s
        return self._interval_s

    # -- closing -----------------------------------------------------------------------------
    def release(self) -> threading.Thread | None:
        """Stop polling and close the pools on a thread (returned, or None if nothing was open)."""
        monitor, registry = self._monitor, self._registry
        self._monitor, self._registry = None, None
        self.samples.clear()
        if monitor is None and registry is None:
            return None
        closer = threading.Thread(
            target=close_engines, args=(monitor, registry), name="floe-disconnect", daemon=True
        )
        closer.start()
        return closer

    def close(self, timeout_s: float = CLOSE_BUDGET_S) -> None:
        """Stop polling and close the pools, waiting at most `timeout_s`. Blocks: not on a UI thread."""
        closer = self.release()
        if closer is not None:
            closer.join(timeout_s)


def close_engines(monitor: HealthMonitor | None, registry: ComputeRegistry | None) -> None:
    """Blocking, best effort: on a closing thread."""
    if monitor is not None:
        monitor.stop(1.0)
    if registry is not None:
        with contextlib.suppress(Exception):  # closing is best effort on the way out
            registry.close()
    join_query_threads(QUERY_THREADS_BUDGET_S)


def join_query_threads(timeout_s: float) -> None:
    """Let query workers release their last engine objects before the interpreter exits."""
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread.name.startswith("floe-query-") and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
