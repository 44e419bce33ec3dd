"""The compute plugin contract (DESIGN section 2).

``ComputePlugin`` is the engine-neutral interface: what the registry, the governance compiler,
the commands and the console may call. ``PooledComputePlugin`` implements the parts that are the
same for every engine with connections (pooling, streaming queries with timeouts that cancel in
the engine, health checks, telemetry), so that a plugin only supplies the engine-specific hooks.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import SecretStr, ValidationError

from floe_tui.compute.errors import (
    ComputeError,
    ConfigError,
    ConnectTimeoutError,
    NotConnectedError,
)
from floe_tui.compute.models import (
    CatalogConfig,
    ComputeConfig,
    ConnectionConfig,
    ConnectionResult,
    HealthState,
    HealthStatus,
    MemoryStats,
    PoolStats,
    QueryOutcome,
    ResourceSpec,
    config_error,
)
from floe_tui.compute.pool import ConnectionPool
from floe_tui.compute.query import EngineConnection, QueryHandle
from floe_tui.compute.telemetry import TargetTelemetry

#: Major must match between the core and a plugin; minor may differ.
API_VERSION = "1.0"
ResourceSize = Literal["small", "medium", "large"]
DEGRADED_MEMORY_FRACTION = 0.9


class ComputePlugin(ABC):
    """One configured instance serves one approved compute target and holds its pool."""

    name: ClassVar[str]
    version: ClassVar[str]
    api_version: ClassVar[str] = API_VERSION
    description: ClassVar[str]
    is_self_hosted: ClassVar[bool]
    config_model: ClassVar[type[ConnectionConfig]]
    #: Credential names the plugin accepts under a target's `credentials`.
    credential_names: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ComputeConfig | None = None) -> None:
        self._config = config

    @property
    def config(self) -> ComputeConfig:
        if self._config is None:
            raise ConfigError(
                f"plugin {self.name!r} has no target configured", "pass a ComputeConfig to the plugin"
            )
        return self._config

    def parse_connection(self, config: ComputeConfig) -> ConnectionConfig:
        """Validate `config.connection` against `config_model` and its credential names."""
        unknown = sorted(set(config.credentials) - self.credential_names)
        if unknown:
            accepted = ", ".join(sorted(self.credential_names)) or "none"
            raise ConfigError(
                f"unknown credential `{unknown[0]}` for plugin {self.name!r}",
                f"credentials this plugin takes: {accepted}",
            )
        try:
            return self.config_model.model_validate(config.connection)
        except ValidationError as exc:
            raise config_error(exc, prefix="connection") from None

    def __enter__(self) -> ComputePlugin:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        target = self._config.name if self._config else None
        return f"<{type(self).__name__} target={target!r}>"

    @abstractmethod
    def connect(self) -> None:
        """Open the pool; calling it again while open does nothing."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the pool; checked-out connections close when they come back. Idempotent."""

    @abstractmethod
    def execute(self, sql: str, *, timeout: float | None = None, limit: int | None = None) -> QueryHandle:
        """Start `sql` and return at once; `timeout` defaults to the target's `query_timeout_s`."""

    @abstractmethod
    def health_check(self, timeout: float = 5.0) -> HealthStatus:
        """Never raises; returns within `timeout`."""

    @abstractmethod
    def pool_stats(self) -> PoolStats: ...

    @abstractmethod
    def memory_stats(self) -> MemoryStats | None:
        """Engine memory where the engine reports it, else None."""

    @abstractmethod
    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        """A lightweight check of a configuration, without opening a pool."""

    @abstractmethod
    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """One dbt output; secrets as ``{{ env_var('NAME') }}``, never literal."""

    @abstractmethod
    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        """SQL that attaches an Iceberg catalog, or None where the engine attaches catalogs otherwise."""

    @abstractmethod
    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec: ...

    @abstractmethod
    def get_required_packages(self) -> list[str]:
        """pip requirements of the engine driver and its dbt adapter."""


C = TypeVar("C", bound=EngineConnection)


class PooledComputePlugin(ComputePlugin, Generic[C]):
    """The shared machinery for engines reached through pooled connections.

    Subclasses implement the hooks below; each is called on a worker thread, never on a UI thread.
    """

    health_sql: ClassVar[str] = "SELECT 1"

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._pool: ConnectionPool[C] | None = None
        self._lifecycle = threading.Lock()
        name = config.name if config else self.name
        self.telemetry = TargetTelemetry(self.name, name)

    # -- engine hooks ----------------------------------------------------------------------
    @abstractmethod
    def _open_engine(self, connection: Any, secrets: dict[str, SecretStr]) -> None:
        """Start or attach to the engine (a database instance, a session); may be slow."""

    @abstractmethod
    def _close_engine(self) -> None:
        """Release the engine once every pooled connection has been closed."""

    @abstractmethod
    def _open_connection(self) -> C: ...

    @abstractmethod
    def _close_connection(self, conn: C) -> None: ...

    @abstractmethod
    def _check_connection(self, conn: C) -> None:
        """Raise if `conn` no longer answers; the pool then replaces it."""

    def _validate_engine(self, connection: Any) -> list[str]:
        """Plugin checks for `validate_connection` beyond the model; returns warnings."""
        return []

    def _engine_failure(self, timeout: float) -> str | None:
        """Why the engine as a whole is down (its process exited, its server went away), else None.

        Asked before every health query and must answer within `timeout`. Engines whose pooled
        connections share one process or server override it, so a health check can say why the
        engine is down rather than only that a query failed. The default knows no more than the
        query will tell.
        """
        return None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._pool is not None and not self._pool.closed

    def connect(self) -> None:
        with self._lifecycle:
            if self.is_connected:
                return
            config = self.config
            connection = self.parse_connection(config)
            secrets = {name: ref.resolve() for name, ref in config.credentials.items()}
            self._run_within(config.pool.connect_timeout_s, lambda: self._open_engine(connection, secrets))
            pool: ConnectionPool[C] = ConnectionPool(
                open_connection=self._open_connection,
                close_connection=self._close_connection,
                check_connection=self._check_connection,
                config=config.pool,
                telemetry=self.telemetry,
                on_drained=self._close_engine,
            )
            try:
                pool.release(pool.acquire(timeout=config.pool.connect_timeout_s))
            except BaseException:
                pool.close()
                raise
            self._pool = pool

    def disconnect(self) -> None:
        with self._lifecycle:
            pool = self._pool  # kept after closing, so pool_stats() still shows what was closed
        if pool is not None:
            pool.close()

    def _run_within(self, seconds: float, open_engine: Any) -> None:
        """Run the engine start on a thread so a hung start cannot outlive `connect_timeout_s`."""
        outcome: dict[str, BaseException | None] = {}
        abandoned = threading.Event()

        def start() -> None:
            try:
                open_engine()
                outcome["error"] = None
            except BaseException as exc:
                outcome["error"] = exc
            if abandoned.is_set() and outcome["error"] is None:
                self._close_engine()  # we gave up on it: do not leave it running

        worker = threading.Thread(target=start, name="floe-connect", daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            abandoned.set()
            raise ConnectTimeoutError(f"target {self.config.name!r} did not open within {seconds:g} s")
        error = outcome.get("error")
        if error is not None:
            raise error

    # -- queries ---------------------------------------------------------------------------
    def execute(self, sql: str, *, timeout: float | None = None, limit: int | None = None) -> QueryHandle:
        return self._start(sql, timeout=timeout, limit=limit, acquire_timeout=None)

    def _start(
        self, sql: str, *, timeout: float | None, limit: int | None, acquire_timeout: float | None
    ) -> QueryHandle:
        pool = self._pool
        if pool is None or pool.closed:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        return QueryHandle(
            sql,
            acquire=lambda: pool.acquire(acquire_timeout),
            release=lambda conn, broken: pool.release(conn, broken=broken),  # type: ignore[arg-type]
            timeout_s=self.config.query_timeout_s if timeout is None else timeout,
            limit=limit,
            telemetry=self.telemetry,
        )

    def pool_stats(self) -> PoolStats:
        pool = self._pool
        if pool is None:
            return PoolStats(
                size=0,
                max=self.config.pool.size,
                in_use=0,
                idle=0,
                waiting=0,
                created=0,
                closed=0,
                reconnects=0,
                acquire_timeouts=0,
                acquire_wait_p50_ms=0.0,
                acquire_wait_p99_ms=0.0,
            )
        return pool.stats()

    # -- health ----------------------------------------------------------------------------
    def health_check(self, timeout: float = 5.0) -> HealthStatus:
        started = time.monotonic()
        try:
            status = self._probe(timeout)
        except ComputeError as exc:
            status = HealthStatus(status=HealthState.UNHEALTHY, message=f"{exc.code}: {exc.message}")
        except Exception as exc:  # a health check never raises: report the engine's complaint
            status = HealthStatus(
                status=HealthState.UNHEALTHY,
                message=f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300],
            )
        if status.latency_ms is None:
            status = status.model_copy(update={"latency_ms": round((time.monotonic() - started) * 1000, 3)})
        self.telemetry.health((status.latency_ms or 0.0) / 1000, status.status.value)
        return status

    def _probe(self, timeout: float) -> HealthStatus:
        if not self.is_connected:
            return HealthStatus(status=HealthState.UNHEALTHY, message="not connected")
        started = time.monotonic()
        down = self._engine_failure(timeout)
        status = self._health_query(max(0.05, timeout - (time.monotonic() - started)))
        if down is None:
            return status
        # The query's acquire tried to reconnect (an engine restart may go on in the background).
        if status.status is not HealthState.UNHEALTHY:
            return status.model_copy(update={"message": f"reconnected ({down})"})
        return HealthStatus(status=HealthState.UNHEALTHY, latency_ms=status.latency_ms, message=down)

    def _health_query(self, timeout: float) -> HealthStatus:
        handle = self._start(self.health_sql, timeout=timeout, limit=None, acquire_timeout=timeout)
        outcome = handle.wait(timeout)
        latency_ms = round(handle.elapsed_s * 1000, 3)
        if outcome is QueryOutcome.RUNNING:
            handle.cancel()
            return HealthStatus(
                status=HealthState.UNHEALTHY,
                message=f"no answer within {timeout:g} s",
                details={"timed_out": True},
            )
        if outcome is not QueryOutcome.COMPLETED:
            message = handle.error.message if handle.error else outcome.value
            return HealthStatus(status=HealthState.UNHEALTHY, latency_ms=latency_ms, message=message)
        return self._memory_verdict(latency_ms)

    def _memory_verdict(self, latency_ms: float) -> HealthStatus:
        memory = self.memory_stats()
        details: dict[str, Any] = {}
        state, message = HealthState.HEALTHY, "ok"
        if memory is not None:
            self.telemetry.memory(memory.used_bytes)
            details = {"memory_used_bytes": memory.used_bytes, "memory_limit_bytes": memory.limit_bytes}
            fraction = memory.used_fraction
            if fraction is not None and fraction >= DEGRADED_MEMORY_FRACTION:
                state, message = HealthState.DEGRADED, f"memory at {fraction:.0%} of its limit"
        status = HealthStatus(status=state, latency_ms=latency_ms, message=message, details=details)
        return status.with_memory(memory)

    # -- configuration checks --------------------------------------------------------------
    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        started = time.monotonic()
        try:
            connection = self.parse_connection(config)
            for ref in config.credentials.values():
                ref.resolve()
            warnings = self._validate_engine(connection)
        except ComputeError as exc:
            return ConnectionResult(success=False, message=str(exc))
        latency_ms = round((time.monotonic() - started) * 1000, 3)
        return ConnectionResult(success=True, message="ok", latency_ms=latency_ms, warnings=warnings)
