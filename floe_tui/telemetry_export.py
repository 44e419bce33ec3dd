"""Metrics that leave the process (DESIGN section 9): the exporter `OTEL_METRICS_EXPORTER` names.

`console` writes to a stream (stderr for headless commands, ``metrics.log`` for the console, never
the screen), `otlp` posts OTLP/HTTP to ``OTEL_EXPORTER_OTLP[_METRICS]_ENDPOINT``, `prometheus`
serves ``/metrics`` on ``OTEL_EXPORTER_PROMETHEUS_HOST``:``_PORT`` (loopback and 9464 by default),
`none` (the default) exports nothing. The exported attributes are the plugin and target names of
``floe_tui.compute.telemetry``: no host, path or secret. Shutting down is bounded: an unreachable
collector never delays exit by more than :data:`SHUTDOWN_S`.

The SDK, the exporters and the compute layer are imported only when an exporter is asked for: a
command (or the console's first paint) run without one pays nothing for them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TextIO

from floe_tui.exits import UsageError

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

EXPORTERS = ("console", "otlp", "prometheus", "none")
SHUTDOWN_S = 1.0
#: How often the console and OTLP exporters push (OTEL_METRIC_EXPORT_INTERVAL overrides it, in ms).
DEFAULT_EXPORT_INTERVAL_MS = 10_000
DEFAULT_PROMETHEUS_HOST = "127.0.0.1"
DEFAULT_PROMETHEUS_PORT = 9464


class MetricsExport:
    """The running exporter; :meth:`shutdown` flushes it (bounded) and frees its port."""

    def __init__(self, name: str, provider: MeterProvider | None, server: Any = None) -> None:
        self.name = name
        self._provider = provider
        self._server = server

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the Prometheus endpoint listens, if it is the exporter."""
        return None if self._server is None else self._server.server_address[:2]

    def shutdown(self) -> None:
        provider, self._provider = self._provider, None
        if provider is not None:
            from floe_tui.compute import telemetry as compute_telemetry

            compute_telemetry.use_meter_provider(None)
            provider.shutdown(timeout_millis=SHUTDOWN_S * 1000)  # the last console / OTLP export
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def start_export(console: TextIO) -> MetricsExport:
    """Start the exporter the environment names; `console` is where `console` writes."""
    name = os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower() or "none"
    if name == "none":
        return MetricsExport(name, None)
    if name not in EXPORTERS:
        raise UsageError(
            f"unknown metrics exporter {name!r} in OTEL_METRICS_EXPORTER",
            f"set OTEL_METRICS_EXPORTER to one of: {', '.join(EXPORTERS)}",
        )
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

    server = None
    reader: MetricReader
    if name == "prometheus":
        reader, server = _prometheus()
    else:
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        interval_ms = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_EXPORT_INTERVAL_MS))
        reader = PeriodicExportingMetricReader(
            _push_exporter(name, console),
            export_interval_millis=interval_ms,
            export_timeout_millis=SHUTDOWN_S * 1000,
        )
    from floe_tui.compute import telemetry as compute_telemetry

    provider = MeterProvider(metric_readers=[reader])
    compute_telemetry.use_meter_provider(provider)
    return MetricsExport(name, provider, server)


def _push_exporter(name: str, console: TextIO) -> Any:
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter(out=console)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(timeout=SHUTDOWN_S)  # endpoint and headers: the standard OTEL_* variables


def _prometheus() -> tuple[Any, Any]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    host = os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST", DEFAULT_PROMETHEUS_HOST)
    raw_port = os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", str(DEFAULT_PROMETHEUS_PORT))
    try:
        port = int(raw_port)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"OTEL_EXPORTER_PROMETHEUS_PORT {raw_port!r} is not a port number", "use a number up to 65535"
        ) from None
    registry = CollectorRegistry()  # our own, so a second start in one process does not collide
    # Series carry our two labels only (no otel_scope_* on each, no target_info of the SDK resource).
    reader = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False, registry=registry)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise UsageError(
            f"cannot serve Prometheus metrics on {host}:{port} ({exc.strerror or type(exc).__name__})",
            "set OTEL_EXPORTER_PROMETHEUS_PORT to a free port",
        ) from None
    return reader, server
