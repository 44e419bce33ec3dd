"""Snowflake: a warehouse that runs elsewhere, reached through the official connector.

One pooled connection is one Snowflake session. Health is the session heartbeat (``is_valid()``),
which needs no warehouse, so a poll never wakes (or bills) one; polls come at most once a minute
and the dashboard does not log in on its first view. Cancels and timeouts post Snowflake's abort
request for the running statement; ``STATEMENT_TIMEOUT_IN_SECONDS`` is the engine-side backstop.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr

from floe_compute_snowflake import __version__
from floe_compute_snowflake.config import (
    CREDENTIAL_NAMES,
    SnowflakeConnection,
    check_credentials,
    reject_literal_secrets,
)
from floe_compute_snowflake.connection import (
    BackstopSupport,
    SessionCounters,
    SessionOptions,
    SnowflakeSession,
    check_cancel_api,
    connect_kwargs,
    open_session,
)
from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    ConfigError,
    HealthVia,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    ResourceSize,
    ResourceSpec,
    dbt_env_var,
    resource_preset,
)

# What a client of a remote warehouse needs locally (dbt and the connector decoding Arrow).
_RESOURCES = {
    "small": ("250m", "1", "512Mi", "1Gi"),
    "medium": ("500m", "2", "1Gi", "2Gi"),
    "large": ("1", "4", "2Gi", "4Gi"),
}


class SnowflakeComputePlugin(PooledComputePlugin[SnowflakeConnection, SnowflakeSession]):
    name: ClassVar[str] = "snowflake"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = "Snowflake, on the official connector: one session per pooled connection"
    is_self_hosted: ClassVar[bool] = False
    config_model: ClassVar[type[SnowflakeConnection]] = SnowflakeConnection
    credential_names: ClassVar[frozenset[str]] = CREDENTIAL_NAMES
    min_poll_interval_s: ClassVar[float] = 60.0
    connect_on_view: ClassVar[bool] = False
    health_via: ClassVar[HealthVia] = "check"
    #: A query does not pay a heartbeat round trip on a session that was busy seconds ago.
    check_after_idle_s: ClassVar[float] = 5.0

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._options: SessionOptions | None = None
        self._backstop = BackstopSupport()
        #: What this target's sessions sent (logins, statements, heartbeats, abort requests).
        self.sent = SessionCounters()

    # -- configuration ---------------------------------------------------------------------
    def parse_connection(self, config: ComputeConfig) -> SnowflakeConnection:
        """The typed `connection`, once its secrets are references and its credentials make sense."""
        reject_literal_secrets(config.connection)
        connection = super().parse_connection(config)
        check_credentials(config)
        return connection

    def validate_engine(self, connection: SnowflakeConnection) -> list[str]:
        warnings: list[str] = []
        if connection.protocol == "http" and not _is_loopback(connection.host):
            warnings.append(
                "protocol http to a host that is not loopback sends the login and the data unencrypted"
            )
        if connection.client_session_keep_alive:
            warnings.append("client_session_keep_alive runs a heartbeat thread that can delay the exit")
        return warnings

    # -- engine hooks ----------------------------------------------------------------------
    def open_engine(self, connection: SnowflakeConnection, secrets: Mapping[str, SecretStr]) -> None:
        config = self.config
        check_cancel_api()
        kwargs = connect_kwargs(
            connection,
            secrets,
            login_timeout_s=config.pool.connect_timeout_s,
            default_timeout_s=config.query_timeout_s,
        )
        self._options = SessionOptions(
            kwargs=kwargs,
            where=_where(connection),
            default_timeout_s=config.query_timeout_s,
            backstop=self._backstop,
            counters=self.sent,
        )

    def close_engine(self) -> None:
        self._options = None

    def open_connection(self) -> SnowflakeSession:
        options = self._options
        if options is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        return open_session(options)

    def close_connection(self, conn: SnowflakeSession) -> None:
        conn.close()

    def check_connection(self, conn: SnowflakeSession) -> None:
        """The session heartbeat (``is_valid()``): no SQL, no warehouse; health polls use it too."""
        conn.ping()

    # -- queries ---------------------------------------------------------------------------
    def memory_stats(self) -> MemoryStats | None:
        return None  # the warehouse's memory is not the client's to report

    # -- dbt and packaging -----------------------------------------------------------------
    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """A dbt-snowflake output; secrets as ``{{ env_var('...') }}``, a key file as its path.

        An unset variable does not stop the profile (CI often has no secrets): dbt reads it when it
        runs, and `floe-tui profiles` warns about it.
        """
        connection = self.parse_connection(config)
        missing = [key for key in ("database", "schema_") if getattr(connection, key) is None]
        if missing:
            names = " and ".join(f"connection.{key.rstrip('_')}" for key in missing)
            raise ConfigError(
                f"target {config.name!r} has no {names}; dbt-snowflake needs a database and a schema",
                f"set {names} for targets used by dbt",
            )
        output: dict[str, Any] = {
            "type": "snowflake",
            "account": connection.account,
            "user": connection.user,
            "database": connection.database,
            "schema": connection.schema_,
            "threads": 4,
            "client_session_keep_alive": connection.client_session_keep_alive,
            "connect_timeout": math.ceil(config.pool.connect_timeout_s),
            "connect_retries": 1,
        }
        for key in ("role", "warehouse", "query_tag"):
            value = getattr(connection, key)
            if value is not None:
                output[key] = value
        if "password" in config.credentials:
            output["password"] = dbt_env_var(config, "password")
        else:
            output["authenticator"] = "snowflake_jwt"
            key_ref = config.credentials["private_key"]
            if key_ref.file is not None:
                output["private_key_path"] = str(key_ref.file)
            else:
                output["private_key"] = dbt_env_var(config, "private_key")
            if "private_key_passphrase" in config.credentials:
                output["private_key_passphrase"] = dbt_env_var(config, "private_key_passphrase")
        # A local server or PrivateLink: only when the target sets them (else Snowflake's own).
        for key in ("host", "port", "protocol"):
            value = getattr(connection, key)
            if value is not None:
                output[key] = value
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        return None  # Snowflake attaches Iceberg catalogs as catalog integrations, made by an admin

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        return resource_preset(_RESOURCES, size)

    def get_required_packages(self) -> list[str]:
        return ["snowflake-connector-python>=4.2,<5", "dbt-snowflake~=1.12.0"]


def _where(connection: SnowflakeConnection) -> str:
    """Where sessions go, for messages: the host and port if set, else the account's own."""
    if connection.host is None:
        return f"account {connection.account}"
    protocol = connection.protocol or "https"
    port = f":{connection.port}" if connection.port is not None else ""
    return f"{protocol}://{connection.host}{port}"


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
