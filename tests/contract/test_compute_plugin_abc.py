"""The plugin contract's public surface, pinned: changing it must be a deliberate, visible act.

If a test here fails, the change breaks every third-party plugin: bump API_VERSION's major and
update these expectations in the same commit, or keep the old surface.
"""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

from floe_tui import compute
from floe_tui.compute import (
    API_VERSION,
    CatalogConfig,
    ComputeConfig,
    ComputePlugin,
    ConnectionConfig,
    ConnectionResult,
    EngineConnection,
    HealthState,
    HealthStatus,
    Lease,
    MemoryStats,
    PoolConfig,
    PooledComputePlugin,
    PoolStats,
    QueryHandle,
    QueryOutcome,
    QueryStats,
    ResourceSpec,
    SecretRef,
)

ABSTRACT_METHODS = {
    "connect": "(self) -> 'None'",
    "disconnect": "(self) -> 'None'",
    "execute": (
        "(self, sql: 'str', *, timeout: 'float | None' = None, limit: 'int | None' = None) -> 'QueryHandle'"
    ),
    "health_check": "(self, timeout: 'float' = 5.0) -> 'HealthStatus'",
    "pool_stats": "(self) -> 'PoolStats'",
    "memory_stats": "(self) -> 'MemoryStats | None'",
    "validate_connection": "(self, config: 'ComputeConfig') -> 'ConnectionResult'",
    "generate_dbt_profile": "(self, config: 'ComputeConfig', environment: 'str') -> 'dict[str, Any]'",
    "get_catalog_attachment_sql": "(self, catalog: 'CatalogConfig') -> 'str | None'",
    "get_resource_requirements": "(self, size: 'ResourceSize') -> 'ResourceSpec'",
    "get_required_packages": "(self) -> 'list[str]'",
}

MODEL_FIELDS = {
    ComputeConfig: ["name", "plugin", "connection", "credentials", "pool", "query_timeout_s"],
    ConnectionConfig: [],
    PoolConfig: ["size", "acquire_timeout_s", "connect_timeout_s"],
    SecretRef: ["env", "file"],
    CatalogConfig: ["name", "type", "uri", "warehouse", "token"],
    HealthStatus: ["status", "latency_ms", "message", "details", "checked_at"],
    ConnectionResult: ["success", "message", "latency_ms", "warnings"],
    PoolStats: [
        "size",
        "max",
        "in_use",
        "idle",
        "waiting",
        "created",
        "closed",
        "reconnects",
        "acquire_timeouts",
        "acquire_wait_p50_ms",
        "acquire_wait_p99_ms",
    ],
    MemoryStats: ["used_bytes", "limit_bytes", "temp_storage_bytes", "by_tag"],
    ResourceSpec: ["size", "cpu_request", "cpu_limit", "memory_request", "memory_limit"],
    QueryStats: ["query_id", "bytes_processed", "bytes_billed"],
}

#: The engine hooks a pooled plugin implements (abstract) or may override.
POOLED_HOOKS = {
    "open_engine": "(self, connection: 'ConfigT', secrets: 'Mapping[str, SecretStr]') -> 'None'",
    "close_engine": "(self) -> 'None'",
    "open_connection": "(self) -> 'ConnT'",
    "close_connection": "(self, conn: 'ConnT') -> 'None'",
    "check_connection": "(self, conn: 'ConnT') -> 'None'",
    "engine_failure": "(self, timeout: 'float') -> 'str | None'",
    "validate_engine": "(self, connection: 'ConfigT') -> 'list[str]'",
    "probe_health": "(self, timeout: 'float') -> 'HealthStatus'",
}
ABSTRACT_HOOKS = {"open_engine", "close_engine", "open_connection", "close_connection", "check_connection"}

#: What a plugin author imports; all of it from `floe_tui.compute` itself.
PLUGIN_KIT = {
    "ComputePlugin",
    "PooledComputePlugin",
    "EngineConnection",
    "ResultStream",
    "Lease",
    "ConnectionPool",
    "QueryStats",
    "ResourcePreset",
    "ResourceSize",
    "resource_preset",
    "parse_byte_size",
    "SECRET_KEY_NAMES",
    "dbt_env_var",
    "unresolved_credentials",
    "run_bounded",
}

ERROR_CODES = {
    "ComputeError": "FLOE-C000",
    "ConfigError": "FLOE-C100",
    "LiteralSecretError": "FLOE-C101",
    "ExtensionNotInstalledError": "FLOE-C102",
    "SecretResolutionError": "FLOE-C103",
    "PluginNotInstalledError": "FLOE-C200",
    "PluginApiVersionError": "FLOE-C201",
    "RegistryError": "FLOE-C210",
    "UnknownComputeError": "FLOE-C211",
    "ConnectionFailedError": "FLOE-C300",
    "ConnectTimeoutError": "FLOE-C301",
    "DatabaseLockedError": "FLOE-C302",
    "NotConnectedError": "FLOE-C303",
    "PoolTimeoutError": "FLOE-C310",
    "QueryError": "FLOE-C400",
    "QueryTimeoutError": "FLOE-C401",
    "QueryCancelledError": "FLOE-C402",
}

#: Errors that retire the connection they happened on; every other error leaves it in the pool.
BREAKS_CONNECTION = {
    "ConnectionFailedError",
    "ConnectTimeoutError",
    "DatabaseLockedError",
    "NotConnectedError",
}


def test_api_version_is_two_point_something() -> None:
    assert API_VERSION.split(".")[0] == "2"  # 2.0: the engine hooks got public names


def test_plugin_kit_is_exported_from_the_package() -> None:
    assert set(compute.__all__) >= PLUGIN_KIT
    assert all(hasattr(compute, name) for name in compute.__all__)


@pytest.mark.parametrize("hook", sorted(POOLED_HOOKS))
def test_pooled_hook_signature(hook: str) -> None:
    assert str(inspect.signature(getattr(PooledComputePlugin, hook))) == POOLED_HOOKS[hook]


def test_pooled_abstract_hooks() -> None:
    assert set(PooledComputePlugin.__abstractmethods__) - set(ABSTRACT_METHODS) == ABSTRACT_HOOKS
    assert not [
        name for name in dir(PooledComputePlugin) if name.lstrip("_") in POOLED_HOOKS and name[0] == "_"
    ]


def test_plugins_are_generic_in_their_config_and_connection() -> None:
    (config_param,) = ComputePlugin.__parameters__  # type: ignore[attr-defined]
    assert config_param.__bound__ is ConnectionConfig
    config_param, connection_param = PooledComputePlugin.__parameters__  # type: ignore[attr-defined]
    assert config_param.__bound__ is ConnectionConfig and connection_param.__bound__ is EngineConnection
    assert isinstance(ComputePlugin.__dict__["connection_config"], property)


def test_lease_surface() -> None:
    public = {name for name in dir(Lease) if not name.startswith("_")}
    assert public == {"release", "invalidate"} and hasattr(Lease, "__enter__") and hasattr(Lease, "__exit__")
    assert get_args(Lease.__orig_bases__[0]) != ()  # type: ignore[attr-defined]


def test_abstract_methods_are_exactly_the_capabilities() -> None:
    assert set(ComputePlugin.__abstractmethods__) == set(ABSTRACT_METHODS)


@pytest.mark.parametrize("method", sorted(ABSTRACT_METHODS))
def test_capability_signature(method: str) -> None:
    assert str(inspect.signature(getattr(ComputePlugin, method))) == ABSTRACT_METHODS[method]


def test_metadata_attributes() -> None:
    for attribute in ("name", "version", "api_version", "description", "is_self_hosted", "config_model"):
        assert attribute in ComputePlugin.__annotations__
    assert ComputePlugin.credential_names == frozenset()


@pytest.mark.parametrize("model", list(MODEL_FIELDS), ids=lambda m: m.__name__)
def test_model_fields(model: type) -> None:
    assert list(model.model_fields) == MODEL_FIELDS[model]  # type: ignore[attr-defined]


def test_status_strings() -> None:
    assert [s.value for s in HealthState] == ["healthy", "degraded", "unhealthy"]
    assert [o.value for o in QueryOutcome] == ["running", "completed", "failed", "cancelled", "timed_out"]


def test_error_codes() -> None:
    assert {name: getattr(compute, name).code for name in ERROR_CODES} == ERROR_CODES


def test_breaks_connection_flags() -> None:
    assert {name for name in ERROR_CODES if getattr(compute, name).breaks_connection} == BREAKS_CONNECTION
    assert compute.QueryError("lost the session", breaks_connection=True).breaks_connection is True


def test_query_handle_surface() -> None:
    public = {name for name in dir(QueryHandle) if not name.startswith("_")}
    assert {
        "batches",
        "cancel",
        "done",
        "elapsed_s",
        "fetch_all",
        "outcome",
        "raise_for_outcome",
        "wait",
        "wait_started",
    } <= public
