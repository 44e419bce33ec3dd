"""The compute plugin contract (DESIGN section 2).

``ComputePlugin`` is the engine-neutral interface: what the registry, the governance compiler,
the commands and the console may call. ``PooledComputePlugin`` implements the parts that are the
same for every engine with connections (pooling, streaming queries with timeouts that cancel in
the engine, health checks, telemetry), so that a plugin only supplies the engine-specific hooks.

Both are generic in the plugin's connection model (and the pooled one in its connection type),
so ``self.connection_config`` is the plugin's own model and a plugin never downcasts it.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Literal, cast

from pydantic import SecretStr, ValidationError
from typing_extensions import TypeVar

from floe_tui.compute.bounded import run_bounded
from floe_tui.compute.errors import ComputeError, ConfigError, ConnectTimeoutError, NotConnectedError
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
    ResourceSize,
    ResourceSpec,
    config_error,
)
from floe_tui.compute.pool import ConnectionPool, Lease
from floe_tui.compute.query import EngineConnection, QueryHandle
from floe_tui.compute.telemetry import TargetTelemetry

#: Major must match between the core and a plugin; minor may differ. 2.0: public hook names.
API_VERSION = "2.0"
DEGRADED_MEMORY_FRACTION = 0.9

ConfigT = TypeVar("ConfigT", bound=ConnectionConfig, default=ConnectionConfig)
# default Any, not EngineConnection: mypy 1.19 checks that default too early inside import cycles
ConnT = TypeVar("ConnT", bound=EngineConnection, default=Any)


class ComputePlugin(ABC, Generic[ConfigT]):
    """One configured instance serves one approved compute target and holds its pool."""

    name: ClassVar[str]
    version: ClassVar[str]
    api_version: ClassVar[str] = API_VERSION
    description: ClassVar[str]
    is_self_hosted: ClassVar[bool]
    config_model: ClassVar[type[ConnectionConfig]]
    #: Credential names the plugin accepts under a target's `credentials`.
    credential_names: ClassVar[frozenset[str]] = frozenset()
    #: Health polls of a target never come more often than this (engines that bill: 60 s).
    min_poll_interval_s: ClassVar[float] = 0.0
    #: Whether showing the target on the dashboard may connect it. False for engines whose session
    #: wakes or bills compute: they connect on a query or an explicit request.
    connect_on_view: ClassVar[bool] = True

    def __init__(self, config: ComputeConfig | None = None) -> None:
        self._config = config
        self._connection: ConfigT | None = None

    @property
    def config(self) -> ComputeConfig:
        if self._config is None:
            raise ConfigError(
                f"plugin {self.name!r} has no target configured", "pass a ComputeConfig to the plugin"
            )
        return self._config

    @property
    def is_connected(self) -> bool:
        """Whether `connect()` opened the target and `disconnect()` has not closed it since."""
        return False

    @property
    def connection_config(self) -> ConfigT:
        """The target's `connection`, validated against the plugin's own model."""
        if self._connection is None:
            self._connection = self.parse_connection(self.config)
        return self._connection

    def parse_connection(self, config: ComputeConfig) -> ConfigT:
        """Validate `config.connection` against `config_model` and its credential names."""
        unknown = sorted(set(config.credentials) - self.credential_names)
        if unknown:
            accepted = ", ".join(sorted(self.credential_names)) or "none"
            raise ConfigError(
                f"unknown credential `{unknown[0]}` for plugin {self.name!r}",
                f"credentials this plugin takes: {accepted}",
            )
        try:
            # config_model is the class of ConfigT (a ClassVar cannot name a type variable)
            return cast(ConfigT, self.config_model.model_validate(config.connection))
        except ValidationError as exc:
            raise config_error(exc, prefix="connection") from None

    def __enter__(self) -> ComputePlugin[ConfigT]:
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


#: How a pooled plugin's health check probes its engine (see `PooledComputePlugin.health_via`).
HealthVia = Literal["query", "check", "memory"]


class PooledComputePlugin(ComputePlugin[ConfigT], Generic[ConfigT, ConnT]):
    """The shared machinery for engines reached through pooled connections.

    Subclasses implement the engine hooks below. The core calls each on a worker thread, never on
    a UI thread, and bounds it: `open_engine`, `open_connection` and `check_connection` by
    ``pool.connect_timeout_s`` or the caller's remaining budget. A hook that overruns is abandoned
    on its daemon thread, and what it opens late is closed.
    """

    health_sql: ClassVar[str] = "SELECT 1"
    #: How `health_check` probes: "query" runs `health_sql` through the pool; "check" leases a
    #: pooled connection, which runs `check_connection` (a heartbeat that wakes no compute);
    #: "memory" takes the `memory_stats` reading the health verdict needs anyway, bounded by the
    #: timeout, as the probe (an embedded engine that reports its memory answers: one engine call
    #: per poll instead of two).
    health_via: ClassVar[HealthVia] = "query"
    #: An idle connection is checked before a query gets it only after this long idle: 0 checks
    #: every time (a local engine's check is cheap); a remote engine saves a round trip per query.
    #: Health probes with `health_via = "check"` always check.
    check_after_idle_s: ClassVar[float] = 0.0

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._pool: ConnectionPool[ConnT] | None = None
        self._lifecycle = threading.Lock()
        name = config.name if config else self.name
        self.telemetry = TargetTelemetry(self.name, name)

    # -- engine hooks ----------------------------------------------------------------------
    @abstractmethod
    def open_engine(self, connection: ConfigT, secrets: Mapping[str, SecretStr]) -> None:
        """Start or attach to the engine (a database instance, a session); may be slow."""

    @abstractmethod
    def close_engine(self) -> None:
        """Release the engine once every pooled connection has been closed."""

    @abstractmethod
    def open_connection(self) -> ConnT: ...

    @abstractmethod
    def close_connection(self, conn: ConnT) -> None: ...

    @abstractmethod
    def check_connection(self, conn: ConnT) -> None:
        """Raise if `conn` no longer answers; the pool then replaces it (a reconnect)."""

    def validate_engine(self, connection: ConfigT) -> list[str]:
        """Plugin checks for `validate_connection` beyond the model, offline; returns warnings."""
        return []

    def engine_failure(self, timeout: float) -> str | None:
        """Why the engine as a whole is down (its process exited, its server went away), else None.

        Asked before every health probe and must answer within `timeout`. Engines whose pooled
        connections share one process or server override it, so a health check can say why the
        engine is down rather than only that a query failed. The default knows no more than the
        probe will tell.
        """
        return None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def pool(self) -> ConnectionPool[ConnT] | None:
        """The open pool, or None before `connect()` (after `disconnect()`, the closed one)."""
        return self._pool

    @property
    def is_connected(self) -> bool:
        return self._pool is not None and not self._pool.closed

    def connect(self) -> None:
        with self._lifecycle:
            if self.is_connected:
                return
            started = time.monotonic()
            config = self.config
            connection = self.connection_config
            secrets = {name: ref.resolve() for name, ref in config.credentials.items()}
            overrun_message = (
                f"target {config.name!r} did not open within {config.pool.connect_timeout_s:g} s"
            )
            run_bounded(
                config.pool.connect_timeout_s,
                lambda: self.open_engine(connection, secrets),
                f"target {config.name!r} did not open",
                on_late=lambda _: self.close_engine(),  # we gave up on it: do not leave it running
            )
            pool: ConnectionPool[ConnT] = ConnectionPool(
                open_connection=self.open_connection,
                close_connection=self.close_connection,
                check_connection=self.check_connection,
                config=config.pool,
                telemetry=self.telemetry,
                on_drained=self.close_engine,
                check_after_idle_s=self.check_after_idle_s,
            )
            remaining = max(0.0, config.pool.connect_timeout_s - (time.monotonic() - started))
            try:  # one budget for the whole connect: the engine and its first connection
                pool.acquire(timeout=remaining, budget=remaining).release()
            except ConnectTimeoutError:
                pool.close()
                raise ConnectTimeoutError(overrun_message) from None
            except BaseException:
                pool.close()
                raise
            self._pool = pool

    def disconnect(self) -> None:
        with self._lifecycle:
            pool = self._pool  # kept after closing, so pool_stats() still shows what was closed
        if pool is not None:
            pool.close()

    # -- queries ---------------------------------------------------------------------------
    def execute(self, sql: str, *, timeout: float | None = None, limit: int | None = None) -> QueryHandle:
        return self._start(sql, timeout=timeout, limit=limit, acquire_timeout=None)

    def _start(
        self, sql: str, *, timeout: float | None, limit: int | None, acquire_timeout: float | None
    ) -> QueryHandle:
        pool = self._pool
        if pool is None or pool.closed:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")

        def acquire(budget: float) -> Lease[EngineConnection]:
            # ConnT is an EngineConnection: the handle only runs and interrupts it.
            return cast(Lease[EngineConnection], pool.acquire(acquire_timeout, budget=budget))

        return QueryHandle(
            sql,
            acquire=acquire,
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
            status = self.probe_health(timeout)
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

    def probe_health(self, timeout: float) -> HealthStatus:
        """One health probe within `timeout`; `health_check` wraps it (never raises, latency, metrics).

        The default asks `engine_failure`, then probes as `health_via` says, through the pool. A
        plugin whose health needs no session at all (a warehouse's state over REST) overrides it,
        bounding its own calls with `run_bounded`; an exception it raises becomes `unhealthy`.
        """
        if not self.is_connected:
            return HealthStatus(status=HealthState.UNHEALTHY, message="not connected")
        started = time.monotonic()
        down = self.engine_failure(timeout)
        remaining = timeout - (time.monotonic() - started)
        if down is not None and remaining < 0.05:  # no time left for a probe: the check within the timeout
            return HealthStatus(status=HealthState.UNHEALTHY, message=down)
        remaining = max(0.05, remaining)
        probes = {"check": self._health_lease, "memory": self._health_memory, "query": self._health_query}
        status = probes[self.health_via](remaining)
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
        return self._memory_verdict(latency_ms, self.memory_stats())

    def _health_lease(self, timeout: float) -> HealthStatus:
        """A pooled connection that passes its check (or opens) within `timeout` is healthy."""
        pool = self._pool
        if pool is None:
            return HealthStatus(status=HealthState.UNHEALTHY, message="not connected")
        started = time.monotonic()
        try:
            pool.acquire(timeout, budget=timeout, check=True).release()
        except ComputeError as exc:
            latency_ms = round((time.monotonic() - started) * 1000, 3)
            return HealthStatus(status=HealthState.UNHEALTHY, latency_ms=latency_ms, message=exc.message)
        return self._memory_verdict(round((time.monotonic() - started) * 1000, 3), self.memory_stats())

    def _health_memory(self, timeout: float) -> HealthStatus:
        """The engine answers if it reports its memory within `timeout`.

        A pool with every connection lent out is judged by a lease, as `check` does: the engine
        may answer, but a query would wait, and the verdict says so.
        """
        pool = self._pool
        if pool is not None and pool.exhausted:
            return self._health_lease(timeout)
        started = time.monotonic()
        try:
            memory = run_bounded(timeout, self.memory_stats, "the engine did not report its memory")
        except ConnectTimeoutError as exc:  # the engine's own errors go up to `health_check`
            return HealthStatus(
                status=HealthState.UNHEALTHY,
                latency_ms=round((time.monotonic() - started) * 1000, 3),
                message=exc.message,
                details={"timed_out": True},
            )
        return self._memory_verdict(round((time.monotonic() - started) * 1000, 3), memory)

    def _memory_verdict(self, latency_ms: float, memory: MemoryStats | None) -> HealthStatus:
        """Healthy, or degraded near the memory limit."""
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
            warnings = self.validate_engine(connection)
        except ComputeError as exc:
            return ConnectionResult(success=False, message=str(exc))
        latency_ms = round((time.monotonic() - started) * 1000, 3)
        return ConnectionResult(success=True, message="ok", latency_ms=latency_ms, warnings=warnings)
