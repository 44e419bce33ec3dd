"""OpenTelemetry instruments for compute targets (DESIGN section 6).

Names follow the semantic conventions for database clients. Every data point carries
``db.system.name`` (the plugin) and ``floe.compute.target`` (the target name) and nothing else
that could identify a host, a file or a secret. The instruments are created on first use from
the global meter provider, or from the one handed to :func:`use_meter_provider` (tests use an
in-memory reader this way). OpenTelemetry itself is imported then too: it was 4% of what
`import floe_tui.compute` costs, paid by every check that never records a data point.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

    from floe_tui.compute.models import PoolStats

SYSTEM = "db.system.name"
TARGET = "floe.compute.target"
HEALTH_CODES = {"healthy": 0, "degraded": 1, "unhealthy": 2}

_lock = threading.Lock()
_provider: MeterProvider | None = None
_instruments: dict[str, Any] | None = None
#: Pools report their counts through observable instruments; weak so a dropped plugin is forgotten.
_pool_sources: weakref.WeakSet[TargetTelemetry] = weakref.WeakSet()


def use_meter_provider(provider: MeterProvider | None) -> None:
    """Record into `provider` from now on (None: back to the global provider)."""
    global _provider, _instruments
    with _lock:
        _provider, _instruments = provider, None


def _instrument(name: str) -> Any:
    global _instruments
    with _lock:
        if _instruments is None:
            from opentelemetry import metrics

            _instruments = _create((_provider or metrics.get_meter_provider()).get_meter("floe_tui.compute"))
        return _instruments[name]


def _create(meter: Meter) -> dict[str, Any]:
    from opentelemetry.metrics import Observation

    def pool_observer(read: Callable[[PoolStats], Iterable[tuple[float, dict[str, str]]]]) -> Any:
        def callback(_options: CallbackOptions) -> Iterable[Observation]:
            for source in list(_pool_sources):
                stats = source.pool_stats_source() if source.pool_stats_source else None
                if stats is not None:
                    for value, extra in read(stats):
                        yield Observation(value, {**source.attributes, **extra})

        return [callback]

    return {
        "duration": meter.create_histogram("db.client.operation.duration", unit="s"),
        "conn_timeouts": meter.create_counter("db.client.connection.timeouts"),
        "conn_wait": meter.create_histogram("db.client.connection.wait_time", unit="s"),
        "health_latency": meter.create_histogram("floe.compute.health.latency", unit="s"),
        "health_status": meter.create_gauge(
            "floe.compute.health.status", description="0 healthy, 1 degraded, 2 unhealthy"
        ),
        "query_timeouts": meter.create_counter("floe.compute.query.timeouts"),
        "query_cancellations": meter.create_counter("floe.compute.query.cancellations"),
        "reconnects": meter.create_counter("floe.compute.reconnects"),
        "memory": meter.create_gauge("floe.compute.memory.usage", unit="By"),
        "conn_count": meter.create_observable_up_down_counter(
            "db.client.connection.count",
            callbacks=pool_observer(
                lambda s: [
                    (s.idle, {"db.client.connection.state": "idle"}),
                    (s.in_use, {"db.client.connection.state": "used"}),
                ]
            ),
        ),
        "conn_max": meter.create_observable_up_down_counter(
            "db.client.connection.max", callbacks=pool_observer(lambda s: [(s.max, {})])
        ),
        "conn_pending": meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests", callbacks=pool_observer(lambda s: [(s.waiting, {})])
        ),
    }


class TargetTelemetry:
    """The instruments of one compute target, with its attributes bound."""

    def __init__(self, plugin_name: str, target_name: str) -> None:
        self.attributes = {SYSTEM: plugin_name, TARGET: target_name}
        self.pool_stats_source: Callable[[], PoolStats | None] | None = None

    def observe_pool(self, source: Callable[[], PoolStats | None]) -> None:
        self.pool_stats_source = source
        _pool_sources.add(self)

    def forget_pool(self) -> None:
        """A drained pool stops reporting connection counts."""
        self.pool_stats_source = None
        _pool_sources.discard(self)

    def query_finished(self, seconds: float, outcome: str) -> None:
        _instrument("duration").record(seconds, {**self.attributes, "floe.query.outcome": outcome})
        if outcome == "timed_out":
            _instrument("query_timeouts").add(1, self.attributes)
        elif outcome == "cancelled":
            _instrument("query_cancellations").add(1, self.attributes)

    def pool_wait(self, seconds: float) -> None:
        _instrument("conn_wait").record(seconds, self.attributes)

    def pool_timeout(self) -> None:
        _instrument("conn_timeouts").add(1, self.attributes)

    def reconnect(self) -> None:
        _instrument("reconnects").add(1, self.attributes)

    def health(self, seconds: float, status: str) -> None:
        _instrument("health_latency").record(seconds, self.attributes)
        _instrument("health_status").set(HEALTH_CODES[status], self.attributes)

    def memory(self, used_bytes: int) -> None:
        _instrument("memory").set(used_bytes, self.attributes)
