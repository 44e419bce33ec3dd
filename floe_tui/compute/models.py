"""Pydantic models at the boundary between the core, the plugins and their callers.

All models reject unknown keys: a typo in a manifest must be an error, not a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, model_validator

from floe_tui.compute.errors import ConfigError, LiteralSecretError, SecretResolutionError

TARGET_NAME = r"^[a-z0-9][a-z0-9_-]*$"
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: Keys that hold secrets; they may appear under `credentials` as references, never in `connection`.
SECRET_KEY_NAMES = frozenset(
    {
        "password",
        "passwd",
        "token",
        "secret",
        "client_secret",
        "api_key",
        "access_key",
        "private_key",
        "private_key_passphrase",
        "passphrase",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file. Resolved only when a connection opens."""

    env: str | None = Field(default=None, pattern=ENV_VAR_NAME)
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference names exactly one of `env` or `file`")
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretResolutionError(
                    f"environment variable {self.env} is not set",
                    f"export {self.env} before connecting",
                )
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.expanduser().read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretResolutionError(
                f"secret file {self.file.name} cannot be read ({type(exc).__name__})",
                "check that the file exists and is readable by this user",
            ) from None


class PoolConfig(_Strict):
    size: int = Field(default=4, ge=1, le=256)
    acquire_timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=120.0, gt=0)


class ConnectionConfig(_Strict):
    """Base of every plugin's `config_model`: the typed form of a target's `connection`."""

    #: Fields holding local paths: a relative one resolves against the declaring manifest's folder.
    path_fields: ClassVar[tuple[str, ...]] = ()


class CatalogConfig(_Strict):
    """An Iceberg catalog to attach to a compute target."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)
    type: Literal["rest"] = "rest"
    uri: str = Field(pattern=r"^https?://[^\s'\"\\\x00-\x1f\x7f]+$")
    warehouse: str | None = None
    token: SecretRef | None = None


class ComputeConfig(_Strict):
    """One approved compute target, as resolved for one environment."""

    name: str = Field(pattern=TARGET_NAME)
    plugin: str = Field(default="", pattern=r"^$|" + TARGET_NAME)
    connection: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    query_timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _plugin_defaults_to_name(self) -> ComputeConfig:
        if not self.plugin:
            object.__setattr__(self, "plugin", self.name)
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ComputeConfig:
        """Build from manifest data, raising ComputeErrors whose text never holds a value."""
        reject_literal_secrets(data)
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise config_error(exc, prefix="compute target") from None


def reject_literal_secrets(data: Mapping[str, Any]) -> None:
    connection = data.get("connection") or {}
    if isinstance(connection, Mapping):
        for key in connection:
            if str(key).lower() in SECRET_KEY_NAMES:
                raise LiteralSecretError(f"`connection.{key}` holds a literal secret")
    credentials = data.get("credentials") or {}
    if isinstance(credentials, Mapping):
        for key, value in credentials.items():
            if not isinstance(value, Mapping):
                raise LiteralSecretError(f"`credentials.{key}` is a literal value, not a reference")


def config_error(exc: ValidationError, prefix: str) -> ConfigError:
    """Turn a ValidationError into a ConfigError that names fields, never their values."""
    first = exc.errors(include_input=False, include_url=False, include_context=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(root)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    message = f"{prefix} `{where}`: {first['msg'].rstrip('.')}{suffix}"
    hint = "remove the key" if first["type"] == "extra_forbidden" else "fix the value's type or range"
    return ConfigError(message, hint)


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class HealthStatus(_Strict):
    status: HealthState
    latency_ms: float | None = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # The memory reading a check based its verdict on: a monitor shows it instead of asking the
    # engine again in the same poll. Not part of the serialized shape.
    _memory: MemoryStats | None = PrivateAttr(default=None)

    @property
    def memory(self) -> MemoryStats | None:
        """The memory reading behind this verdict, if the check took one."""
        return self._memory

    def with_memory(self, memory: MemoryStats | None) -> HealthStatus:
        """Attach the reading to a status just made, before anyone else sees it."""
        self._memory = memory
        return self


class ConnectionResult(_Strict):
    """What `validate_connection` found, without opening a pool."""

    success: bool
    message: str
    latency_ms: float | None = None
    warnings: list[str] = Field(default_factory=list)


class PoolStats(_Strict):
    """Counters in the sense of SQLAlchemy's pool: checked-out, idle, overflow waiting."""

    size: int
    max: int
    in_use: int
    idle: int
    waiting: int
    created: int
    closed: int
    reconnects: int
    acquire_timeouts: int
    acquire_wait_p50_ms: float
    acquire_wait_p99_ms: float


class QueryStats(_Strict):
    """What an engine reports about a finished query; None where it does not say."""

    query_id: str | None = None
    bytes_processed: int | None = None
    bytes_billed: int | None = None


class MemoryStats(_Strict):
    used_bytes: int
    limit_bytes: int | None = None
    temp_storage_bytes: int = 0
    by_tag: dict[str, int] = Field(default_factory=dict)

    @property
    def used_fraction(self) -> float | None:
        return self.used_bytes / self.limit_bytes if self.limit_bytes else None


ResourceSize = Literal["small", "medium", "large"]


class ResourceSpec(_Strict):
    """Kubernetes-style requests and limits for running a target's work."""

    size: ResourceSize
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


#: cpu request, cpu limit, memory request, memory limit (Kubernetes quantities)
ResourcePreset = tuple[str, str, str, str]


def resource_preset(presets: Mapping[str, ResourcePreset], size: str) -> ResourceSpec:
    """A plugin's preset for `size` as a ResourceSpec; an unknown size is a ConfigError."""
    if size not in presets:
        raise ConfigError(f"unknown resource size {size!r}", f"use one of: {', '.join(presets)}")
    cpu_request, cpu_limit, memory_request, memory_limit = presets[size]
    return ResourceSpec(
        size=size,
        cpu_request=cpu_request,
        cpu_limit=cpu_limit,
        memory_request=memory_request,
        memory_limit=memory_limit,
    )


class QueryOutcome(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class Column(_Strict):
    name: str
    type: str


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}


def parse_byte_size(text: str) -> int:
    """'1GB' -> 1_000_000_000, '61.0 MiB' -> 63963136 (the forms DuckDB accepts and prints)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError("not a size; use a number and a unit such as 512MB or 2GiB")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])
