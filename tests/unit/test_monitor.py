"""The health monitor: self-rescheduling polls that never overlap, timeouts, backoff, reconnects.

`ToyPlugin` below is a scripted stand-in for an engine, used only where no real engine can do
what the test needs: a health check that hangs past its own timeout, an engine that refuses to
start and then comes back, a target that keeps failing. Everything else runs on a real DuckDB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from floe_tui.compute import (
    ComputeConfig,
    ComputePlugin,
    ComputeRegistry,
    ConnectionConfig,
    ConnectionFailedError,
    ConnectionResult,
    HealthState,
    HealthStatus,
    MemoryStats,
    PoolStats,
    QueryHandle,
    ResourceSpec,
)
from floe_tui.monitor import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    HealthMonitor,
    MonitorEvent,
    TargetSample,
    clamp_interval,
)


class ToyConnection(ConnectionConfig):
    pass


class ToyPlugin(ComputePlugin):
    """A scripted engine: `health` decides each check; `connect_failures` refuse to start."""

    name: ClassVar[str] = "toy"
    version: ClassVar[str] = "0"
    description: ClassVar[str] = "scripted test engine"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[ConnectionConfig]] = ToyConnection

    def __init__(
        self, health: Callable[[float], HealthStatus] | None = None, connect_failures: int = 0
    ) -> None:
        super().__init__(ComputeConfig(name="toy"))
        self.health = health or (lambda timeout: HealthStatus(status=HealthState.HEALTHY, latency_ms=1.0))
        self.connect_failures = connect_failures
        self.connects = 0
        self.checks: list[float] = []
        self.in_check = 0
        self.max_in_check = 0
        self._lock = threading.Lock()

    def connect(self) -> None:
        self.connects += 1
        if self.connect_failures > 0:
            self.connect_failures -= 1
            raise ConnectionFailedError("toy engine is down")

    def disconnect(self) -> None:
        pass

    def execute(self, sql: str, *, timeout: float | None = None, limit: int | None = None) -> QueryHandle:
        raise NotImplementedError

    def health_check(self, timeout: float = 5.0) -> HealthStatus:
        with self._lock:
            self.in_check += 1
            self.max_in_check = max(self.max_in_check, self.in_check)
            self.checks.append(time.monotonic())
        try:
            return self.health(timeout)
        finally:
            with self._lock:
                self.in_check -= 1

    def pool_stats(self) -> PoolStats:
        return PoolStats(
            size=1,
            max=1,
            in_use=0,
            idle=1,
            waiting=0,
            created=1,
            closed=0,
            reconnects=0,
            acquire_timeouts=0,
            acquire_wait_p50_ms=0.0,
            acquire_wait_p99_ms=0.0,
        )

    def memory_stats(self) -> MemoryStats | None:
        return None

    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        return ConnectionResult(success=True, message="ok")

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        return {}

    def get_catalog_attachment_sql(self, catalog: Any) -> str | None:
        return None

    def get_resource_requirements(self, size: Any) -> ResourceSpec:
        raise NotImplementedError

    def get_required_packages(self) -> list[str]:
        return []


class Recorder:
    def __init__(self) -> None:
        self.samples: list[TargetSample] = []
        self.events: list[MonitorEvent] = []

    def sample(self, sample: TargetSample) -> None:
        self.samples.append(sample)

    def event(self, event: MonitorEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def monitors() -> Iterator[list[HealthMonitor]]:
    made: list[HealthMonitor] = []
    yield made
    for monitor in made:
        monitor.stop(1.0)


def start(
    monitors: list[HealthMonitor], plugins: dict[str, ComputePlugin], rec: Recorder, **kw: Any
) -> HealthMonitor:
    monitor = HealthMonitor(plugins, on_sample=rec.sample, on_event=rec.event, **kw)
    monitors.append(monitor)
    monitor.start()
    return monitor


def test_interval_is_clamped_between_0_2_and_60_seconds() -> None:
    assert clamp_interval(0.01) == MIN_INTERVAL_S == 0.2
    assert clamp_interval(600) == MAX_INTERVAL_S == 60.0
    assert clamp_interval(1.5) == 1.5
    monitor = HealthMonitor({}, on_sample=lambda s: None, on_event=lambda e: None, interval_s=0)
    assert monitor.interval_s == 0.2
    monitor.interval_s = 1000
    assert monitor.interval_s == 60.0


def test_a_healthy_target_is_polled_again_and_again_with_a_status_event(
    recorder: Recorder, monitors: list[HealthMonitor]
) -> None:
    toy = ToyPlugin()
    monitor = start(monitors, {"a": toy}, recorder, interval_s=0.2)
    assert wait_for(lambda: len(recorder.samples) >= 3)
    assert {s.target for s in recorder.samples} == {"a"}
    assert all(s.health.status is HealthState.HEALTHY for s in recorder.samples)
    assert recorder.samples[0].pool is not None
    assert len(monitor.history["a"]) >= 3
    status = [e for e in recorder.events if e.kind == "status"]
    assert [e.message for e in status] == ["new -> healthy"]  # one event per change, not per poll


def test_a_hanging_health_check_times_out_on_time_and_polls_never_overlap(
    recorder: Recorder, monitors: list[HealthMonitor]
) -> None:
    # Mock needed: no real engine hangs on `SELECT 1` past its own timeout on demand.
    release = threading.Event()

    def hang(timeout: float) -> HealthStatus:
        release.wait(30)
        return HealthStatus(status=HealthState.HEALTHY, latency_ms=30_000.0)

    toy = ToyPlugin(health=hang)
    other = ToyPlugin()
    monitor = start(monitors, {"stuck": toy, "fine": other}, recorder, interval_s=0.2, timeout_s=0.3)
    started = time.monotonic()
    try:
        assert wait_for(lambda: any(s.target == "stuck" for s in recorder.samples), timeout=3)
        took = time.monotonic() - started
        first = next(s for s in recorder.samples if s.target == "stuck")
        assert first.health.status is HealthState.UNHEALTHY
        assert "no answer within 0.3 s" in first.health.message
        assert took < 0.3 + 0.5 + 0.5  # timeout + grace + scheduling slack
        assert "timeout" in recorder.kinds()
        # The other target keeps its rhythm while one target hangs.
        assert wait_for(lambda: len([s for s in recorder.samples if s.target == "fine"]) >= 4)
        # While the stuck check has not returned, no second poll of that target starts.
        assert len(toy.checks) == 1
        assert monitor.polls["stuck"] == 1
        monitor.poll_now()
        assert not wait_for(lambda: len(toy.checks) > 1, timeout=0.5)
    finally:
        release.set()
    # Once the stuck check returns, the loop re-arms and the target recovers.
    assert wait_for(lambda: len(toy.checks) >= 2, timeout=3)
    assert toy.max_in_check == 1
    assert wait_for(lambda: recorder.samples[-1].health.status is HealthState.HEALTHY or len(toy.checks) > 2)


def test_a_failing_target_backs_off(recorder: Recorder, monitors: list[HealthMonitor]) -> None:
    toy = ToyPlugin(
        health=lambda timeout: HealthStatus(status=HealthState.UNHEALTHY, message="engine said no")
    )
    start(monitors, {"bad": toy}, recorder, interval_s=0.2)
    assert wait_for(lambda: len(toy.checks) >= 4, timeout=6)
    gaps = [b - a for a, b in zip(toy.checks, toy.checks[1:], strict=False)]
    # 0.2 s doubled per failure: 0.4, 0.8, 1.6 s ...
    assert gaps[0] >= 0.35
    assert gaps[1] >= 0.7
    assert gaps[2] >= 1.4
    assert recorder.samples[0].health.message == "engine said no"


def test_an_engine_that_comes_back_is_reconnected(recorder: Recorder, monitors: list[HealthMonitor]) -> None:
    # Mock needed: a real engine cannot be told to refuse exactly two starts.
    toy = ToyPlugin(connect_failures=2)
    start(monitors, {"flaky": toy}, recorder, interval_s=0.2)
    assert wait_for(lambda: "reconnect" in recorder.kinds(), timeout=6)
    unhealthy = [s for s in recorder.samples if s.health.status is HealthState.UNHEALTHY]
    assert unhealthy and "FLOE-C300" in unhealthy[0].health.message
    assert toy.connects == 3
    assert wait_for(lambda: recorder.samples[-1].health.status is HealthState.HEALTHY)
    messages = [e.message for e in recorder.events]
    assert any(m.startswith("cannot connect") for m in messages)
    assert any("unhealthy -> healthy" in m for m in messages)


def test_pause_stops_polls_and_resume_polls_at_once(
    recorder: Recorder, monitors: list[HealthMonitor]
) -> None:
    toy = ToyPlugin()
    monitor = start(monitors, {"a": toy}, recorder, interval_s=0.2)
    assert wait_for(lambda: len(toy.checks) >= 2)
    monitor.pause()
    assert monitor.paused
    assert wait_for(lambda: toy.in_check == 0)  # a poll already under way may finish
    count = len(toy.checks)
    assert not wait_for(lambda: len(toy.checks) > count, timeout=0.8)
    monitor.interval_s = 60
    monitor.resume()
    assert wait_for(lambda: len(toy.checks) > count, timeout=1)


def test_poll_now_wakes_a_slow_interval(recorder: Recorder, monitors: list[HealthMonitor]) -> None:
    toy = ToyPlugin()
    monitor = start(monitors, {"a": toy}, recorder, interval_s=60)
    assert wait_for(lambda: len(toy.checks) == 1)
    monitor.poll_now()
    assert wait_for(lambda: len(toy.checks) == 2, timeout=1)


def test_stop_ends_every_loop(recorder: Recorder) -> None:
    toy = ToyPlugin()
    monitor = HealthMonitor({"a": toy}, on_sample=recorder.sample, on_event=recorder.event, interval_s=0.2)
    monitor.start()
    assert wait_for(lambda: len(toy.checks) >= 1)
    monitor.stop(2.0)
    assert not any(t.is_alive() for t in threading.enumerate() if t.name == "floe-monitor-a")
    count = len(recorder.samples)
    assert not wait_for(lambda: len(recorder.samples) > count, timeout=0.5)


def test_a_real_duckdb_target_reports_pool_and_memory_asking_once_per_poll(
    recorder: Recorder, monitors: list[HealthMonitor]
) -> None:
    config = ComputeConfig.from_mapping(
        {"name": "duckdb", "connection": {"path": ":memory:", "memory_limit": "256MB", "threads": 1}}
    )
    registry = ComputeRegistry([config], default="duckdb")
    plugin = registry.get("duckdb")
    reads: list[MemoryStats | None] = []
    read_memory = plugin.memory_stats

    def counted() -> MemoryStats | None:  # the real reading, counted
        reads.append(read_memory())
        return reads[-1]

    plugin.memory_stats = counted  # type: ignore[method-assign]
    try:
        monitor = start(monitors, {"duckdb": plugin}, recorder, interval_s=0.2)
        assert wait_for(lambda: len(recorder.samples) >= 3, timeout=20)
        monitor.stop(2.0)
        sample = recorder.samples[-1]
        assert sample.health.status is HealthState.HEALTHY
        assert sample.health.latency_ms is not None
        assert sample.pool is not None and sample.pool.size >= 1
        assert sample.memory is not None and sample.memory.limit_bytes == pytest.approx(
            256 * 10**6, rel=0.001
        )
        # The card shows the reading the health verdict was made from: the engine is asked once.
        assert sample.memory is sample.health.memory
        assert len(reads) == len(recorder.samples)
    finally:
        registry.close()


class BillingToy(ToyPlugin):
    """An engine whose session wakes billed compute: it connects only when asked."""

    min_poll_interval_s: ClassVar[float] = 60.0
    connect_on_view: ClassVar[bool] = False

    @property
    def is_connected(self) -> bool:
        return self.connects > 0


def test_a_billing_engine_is_not_connected_by_polls_until_asked(
    recorder: Recorder, monitors: list[HealthMonitor]
) -> None:
    billing, free = BillingToy(), ToyPlugin()
    monitor = start(monitors, {"warehouse": billing, "local": free}, recorder, interval_s=0.2)
    assert monitor.interval_of("warehouse") == 60.0 and monitor.interval_of("local") == 0.2
    assert wait_for(lambda: monitor.polls["local"] >= 3)
    assert billing.connects == 0 and monitor.polls["warehouse"] == 1, "polled faster than its minimum"
    waiting = [s for s in recorder.samples if s.target == "warehouse"]
    assert waiting[0].health.status is HealthState.DEGRADED and "not connected" in waiting[0].health.message
    monitor.poll_now(connect=True)  # the user's explicit request (ctrl+r)
    assert wait_for(lambda: billing.connects == 1 and billing.checks != [])
    assert wait_for(
        lambda: any(
            s.target == "warehouse" and s.health.status is HealthState.HEALTHY for s in recorder.samples
        )
    )
