"""Health monitor: one self-rescheduling poll loop per compute target.

A target's next poll is armed only after its previous one finished, so polls never pile up
behind a slow engine. Each poll (connect if needed, health check, pool and memory statistics)
runs on a reused worker thread and the loop waits for it at most ``timeout_s`` (plus a small
grace) once the target is connected: a plugin whose health check hangs, whatever it promised,
gives an ``unhealthy`` sample and a ``timeout`` event on time, and the loop then waits for the
stuck probe to come back before it polls that target again. Opening a connection has its own
budget (the plugin's ``connect_timeout_s``): a slow engine start shows as ``connecting``, not
as a failed check. A failing target backs off (the interval doubled per failure, up to 30 s) and
is reconnected when it answers again (``reconnect`` event).

A plugin's ``min_poll_interval_s`` is a floor for its target's interval (engines that bill). A
plugin with ``connect_on_view`` False is not connected by a poll: until a query connects it, or
``poll_now(connect=True)`` asks for it explicitly, its sample says so and nothing reaches the
engine (a session start would wake a stopped warehouse).

Results leave through callbacks called on the monitor's threads: the console turns them into
messages and never waits on an engine itself. Engine-neutral: no engine driver, no Textual.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from floe_tui.compute import ComputeError, ComputePlugin, HealthState, HealthStatus, MemoryStats, PoolStats
from floe_tui.compute.bounded import spawn

MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 60.0
MAX_BACKOFF_S = 30.0
HISTORY = 120
#: Extra time given to a plugin's own health-check timeout before the monitor gives up on it.
GRACE_S = 0.5
_STOP_CHECK_S = 0.25

EventKind = Literal["status", "reconnect", "timeout", "error", "connect"]


def _now() -> datetime:
    return datetime.now(UTC)


class TargetSample(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    at: datetime = Field(default_factory=_now)
    health: HealthStatus
    pool: PoolStats | None = None
    memory: MemoryStats | None = None


class MonitorEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: str
    kind: EventKind
    message: str
    at: datetime = Field(default_factory=_now)
    #: The health state a `status` event moved to.
    status: HealthState | None = None


class _Probe:
    """One poll of one target on a thread of its own."""

    def __init__(self, name: str, plugin: ComputePlugin, timeout_s: float, *, may_connect: bool) -> None:
        self.connected = threading.Event()
        self.done = threading.Event()
        self.connect_error: str | None = None
        self.health: HealthStatus | None = None
        self.pool: PoolStats | None = None
        self.memory: MemoryStats | None = None
        self._plugin = plugin
        self._timeout_s = timeout_s
        self._may_connect = may_connect and not plugin.is_connected
        if not self._may_connect:
            self.connected.set()  # nothing to connect: the loop waits for the check alone
        spawn(self._run)  # a reused worker: a poll every second starts no thread

    def _run(self) -> None:
        try:
            try:
                if self._may_connect:
                    self._plugin.connect()
            except ComputeError as exc:
                self.connect_error = f"{exc.code}: {exc.message}"
                return
            except Exception as exc:  # an engine's own failure to start: report it, keep polling
                self.connect_error = f"{type(exc).__name__}: {exc}"[:300]
                return
            finally:
                self.connected.set()
            self.health = self._plugin.health_check(timeout=self._timeout_s)
            try:
                self.pool = self._plugin.pool_stats()
            except Exception:  # statistics are a detail: never hide the health result
                self.pool = None
            try:  # the reading the health verdict used, if any: one engine call per poll
                self.memory = self.health.memory or self._plugin.memory_stats()
            except Exception:
                self.memory = None
        except Exception as exc:  # health_check must not raise; if it does, it is a failed check
            message = f"{type(exc).__name__}: {exc}"[:300]
            self.health = HealthStatus(status=HealthState.UNHEALTHY, message=message)
        finally:
            self.connected.set()
            self.done.set()


class _TargetState:
    """What one target's loop remembers between polls."""

    def __init__(self) -> None:
        self.failures = 0
        self.last: HealthState | None = None
        self.reconnects: int | None = None
        self.connect_failed = False
        #: An explicit request to connect a target that does not connect on view.
        self.connect_requested = False


#: What a target that connects only on request shows until then.
WAITING_TO_CONNECT = "not connected: connects on the first query or ctrl+r (a session may wake compute)"


class HealthMonitor:
    def __init__(
        self,
        plugins: Mapping[str, ComputePlugin],
        *,
        on_sample: Callable[[TargetSample], None],
        on_event: Callable[[MonitorEvent], None],
        interval_s: float = 1.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._plugins = dict(plugins)
        self._on_sample = on_sample
        self._on_event = on_event
        self._interval_s = clamp_interval(interval_s)
        self.timeout_s = timeout_s
        self._wake = {name: threading.Event() for name in self._plugins}
        self._states = {name: _TargetState() for name in self._plugins}
        self._stopped = threading.Event()
        self._paused = False
        self._threads: list[threading.Thread] = []
        self._epoch = time.monotonic()
        self.history: dict[str, deque[TargetSample]] = {name: deque(maxlen=HISTORY) for name in self._plugins}
        #: Polls started per target (a test reads it to prove that polls never overlap).
        self.polls: dict[str, int] = dict.fromkeys(self._plugins, 0)

    # -- control -------------------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        return list(self._plugins)

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self._interval_s = clamp_interval(value)
        self.poll_now()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopped.is_set()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self.poll_now()

    def poll_now(self, *, connect: bool = False) -> None:
        """Wake every loop: a loop busy with a poll finishes it first (polls never overlap).

        `connect` is the user's explicit request: targets that do not connect on view connect too.
        """
        for name, wake in self._wake.items():
            if connect:
                self._states[name].connect_requested = True
            wake.set()

    def interval_of(self, name: str) -> float:
        """The target's poll interval: the monitor's, never below its plugin's minimum."""
        return max(self._interval_s, self._plugins[name].min_poll_interval_s)

    def start(self) -> None:
        if self._threads:
            return
        self._epoch = time.monotonic()
        for name in self._plugins:
            thread = threading.Thread(
                target=self._loop, args=(name,), name=f"floe-monitor-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop polling; a poll stuck in an engine is left to finish on its daemon thread."""
        self._stopped.set()
        self.poll_now()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- the loop ------------------------------------------------------------------------
    def _loop(self, name: str) -> None:
        plugin = self._plugins[name]
        state = self._states[name]
        while not self._stopped.is_set():
            if not self._paused and not self._poll(name, plugin, state):
                return
            self._wake[name].wait(self._next_wait(self.interval_of(name), state.failures))
            self._wake[name].clear()

    def _next_wait(self, interval: float, failures: int) -> float:
        """Healthy targets poll on a shared beat (multiples of the interval since start), so one
        round's samples arrive together and the console repaints once per round; a failing
        target backs off on its own: the interval doubled per failure, at most 30 s."""
        if failures:
            return min(MAX_BACKOFF_S, interval * float(2**failures))
        return interval - ((time.monotonic() - self._epoch) % interval)

    def _deliver(self, name: str, sample: TargetSample, state: _TargetState) -> None:
        self.history[name].append(sample)
        self._on_sample(sample)
        health = sample.health.status
        if health is not state.last:
            before = state.last.value if state.last else "new"
            reason = f" ({sample.health.message})" if health is not HealthState.HEALTHY else ""
            self._event(name, "status", f"{before} -> {health.value}{reason}", health)
            state.last = health
        if sample.pool is not None:
            if state.reconnects is not None and sample.pool.reconnects > state.reconnects:
                replaced = sample.pool.reconnects - state.reconnects
                self._event(name, "reconnect", f"replaced {replaced} broken connection(s)")
            state.reconnects = sample.pool.reconnects

    def _poll(self, name: str, plugin: ComputePlugin, state: _TargetState) -> bool:
        """One round; False when the monitor stopped meanwhile."""
        self.polls[name] += 1
        may_connect = plugin.connect_on_view or state.connect_requested
        if not (may_connect or plugin.is_connected):
            waiting = HealthStatus(status=HealthState.DEGRADED, message=WAITING_TO_CONNECT)
            self._deliver(name, TargetSample(target=name, health=waiting), state)
            return True
        probe = _Probe(name, plugin, self.timeout_s, may_connect=may_connect)
        announced = False
        started = time.monotonic()
        while not probe.connected.wait(_STOP_CHECK_S):
            if self._stopped.is_set():
                return False
            if not announced and time.monotonic() - started > 1.0:
                announced = True
                self._event(name, "connect", "connecting (the engine is starting)")
        if probe.connect_error is not None:
            probe.done.wait()
            if not state.connect_failed:
                self._event(name, "error", f"cannot connect: {probe.connect_error}")
            state.connect_failed = True
            state.failures += 1
            health = HealthStatus(status=HealthState.UNHEALTHY, message=probe.connect_error)
            self._deliver(name, TargetSample(target=name, health=health), state)
            return True
        if state.connect_failed:
            state.connect_failed = False
            self._event(name, "reconnect", "connected again after a failed connect")
        elif announced:
            self._event(name, "connect", f"connected in {time.monotonic() - started:.1f} s")
        if not probe.done.wait(self.timeout_s + GRACE_S):
            message = f"no answer within {self.timeout_s:g} s"
            self._event(name, "timeout", f"health check: {message}")
            health = HealthStatus(status=HealthState.UNHEALTHY, message=message, details={"timed_out": True})
            self._deliver(name, TargetSample(target=name, health=health), state)
            # Polls never overlap: wait for the stuck one to come back before arming the next.
            while not probe.done.wait(_STOP_CHECK_S):
                if self._stopped.is_set():
                    return False
        elif probe.health is not None and probe.health.details.get("timed_out"):
            self._event(name, "timeout", f"health check: {probe.health.message}")
        if self._stopped.is_set():
            return False
        health = probe.health or HealthStatus(status=HealthState.UNHEALTHY, message="no result")
        state.failures = state.failures + 1 if health.status is HealthState.UNHEALTHY else 0
        sample = TargetSample(target=name, health=health, pool=probe.pool, memory=probe.memory)
        self._deliver(name, sample, state)
        return True

    def _event(self, target: str, kind: EventKind, message: str, status: HealthState | None = None) -> None:
        self._on_event(MonitorEvent(target=target, kind=kind, message=message, status=status))


def clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, seconds))
