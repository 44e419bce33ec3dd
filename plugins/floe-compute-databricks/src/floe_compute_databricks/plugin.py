"""Databricks SQL warehouses, through databricks-sql-connector (the client dbt-databricks uses).

One pooled connection is one server session. Health reads the warehouse's state over the
workspace REST API (databricks-sdk) and never opens a SQL session, so a poll neither wakes a
stopped warehouse nor keeps a running one from stopping; polls come at most once a minute, and
the dashboard does not connect a target on view, only on a query or an explicit request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr

from floe_compute_databricks import __version__
from floe_compute_databricks.config import DEFAULT_PORT, DatabricksConnection
from floe_compute_databricks.connection import (
    DatabricksSession,
    WarehouseStateReader,
    describe,
    open_session,
    quiet_library_output,
    require_token,
    warehouse_status,
)
from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    ComputeError,
    ConfigError,
    ConnectionResult,
    HealthState,
    HealthStatus,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    ResourceSize,
    ResourceSpec,
    dbt_env_var,
    resource_preset,
)

log = logging.getLogger("floe_compute_databricks")
#: What runs here is only the client (the warehouse does the work): small requests at every size.
_RESOURCES = {
    "small": ("100m", "500m", "256Mi", "512Mi"),
    "medium": ("250m", "1", "512Mi", "1Gi"),
    "large": ("500m", "2", "1Gi", "2Gi"),
}
CONNECTOR_REQUIREMENT = "databricks-sql-connector>=4.9,<5"
SDK_REQUIREMENT = "databricks-sdk>=0.47,<0.48"
#: 1.10.10-1.10.19 pin an older connector and dbt-spark; 1.11 needs dbt-core 1.11.
DBT_REQUIREMENT = "dbt-databricks==1.10.9"
#: dbt's `connect_retries`: dbt-databricks also retries each request itself (503 while a
#: warehouse starts), so a few attempts of the whole connect are enough.
DBT_CONNECT_RETRIES = 3
DBT_CONNECT_RETRY_DELAY_S = 10


def _import_sdk() -> None:
    try:
        import databricks.sdk.service.sql  # noqa: F401
    except Exception as exc:  # the health poll that needs it reports the failure
        log.debug("importing databricks-sdk failed: %s", type(exc).__name__)


class DatabricksComputePlugin(PooledComputePlugin[DatabricksConnection, DatabricksSession]):
    name: ClassVar[str] = "databricks"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = "Databricks SQL warehouses, through databricks-sql-connector"
    is_self_hosted: ClassVar[bool] = False
    config_model: ClassVar[type[DatabricksConnection]] = DatabricksConnection
    #: `token`: a personal access token (or any bearer token the workspace accepts), by reference.
    credential_names: ClassVar[frozenset[str]] = frozenset({"token"})
    min_poll_interval_s: ClassVar[float] = 60.0
    connect_on_view: ClassVar[bool] = False

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._token: SecretStr | None = None
        self._reader: WarehouseStateReader | None = None
        self._engine_lock = threading.Lock()

    # -- engine hooks ----------------------------------------------------------------------
    def open_engine(self, connection: DatabricksConnection, secrets: Mapping[str, SecretStr]) -> None:
        token = require_token(secrets, self.config.name)
        # Nothing slow here: the core bounds this hook and the first session's opening each by
        # connect_timeout_s, so the connector's import (pandas, about 0.6 s) happens inside the
        # session's opening, where a silent server costs one budget, not two. The SDK (about 1 s)
        # is only needed by health polls: it loads beside the session's opening, on its own thread.
        threading.Thread(target=_import_sdk, name="floe-databricks-sdk-import", daemon=True).start()
        quiet_library_output()
        with self._engine_lock:
            self._token = SecretStr(token)
            self._reader = WarehouseStateReader(connection, token, product_version=__version__)

    def close_engine(self) -> None:
        with self._engine_lock:
            self._token = None
            self._reader = None

    def open_connection(self) -> DatabricksSession:
        with self._engine_lock:
            token = self._token
        if token is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        config = self.config
        raw = token.get_secret_value()
        connection = open_session(
            self.connection_config,
            raw,
            connect_timeout_s=config.pool.connect_timeout_s,
            query_timeout_s=config.query_timeout_s,
            target=config.name,
        )
        return DatabricksSession(connection, default_timeout_s=config.query_timeout_s, token=raw)

    def close_connection(self, conn: DatabricksSession) -> None:
        conn.close()

    def check_connection(self, conn: DatabricksSession) -> None:
        conn.check()

    def memory_stats(self) -> MemoryStats | None:
        """None: a warehouse's memory is not reported to its clients."""
        return None

    # -- health ----------------------------------------------------------------------------
    def probe_health(self, timeout: float) -> HealthStatus:
        """The warehouse's state over the REST API; no SQL session (it would wake the warehouse)."""
        try:
            return self._warehouse_status(timeout)
        except Exception as exc:  # reported in the plugin's own words, the token redacted
            return HealthStatus(status=HealthState.UNHEALTHY, message=describe(exc, self._raw_token()))

    def _warehouse_status(self, timeout: float) -> HealthStatus:
        with self._engine_lock:
            reader = self._reader
        if not self.is_connected or reader is None:
            return HealthStatus(status=HealthState.UNHEALTHY, message="not connected")
        return warehouse_status(reader, timeout)

    def _raw_token(self) -> str | None:
        token = self._token
        return token.get_secret_value() if token is not None else None

    # -- configuration checks --------------------------------------------------------------
    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        """Config and references, offline: the model, `credentials.token` and what it points at."""
        if "token" not in config.credentials:
            try:
                self.parse_connection(config)
            except ComputeError as exc:
                return ConnectionResult(success=False, message=str(exc))
            missing = ConfigError(
                f"target {config.name!r} has no credential `token`",
                "add credentials: {token: {env: DATABRICKS_TOKEN}} (a personal access token)",
            )
            return ConnectionResult(success=False, message=str(missing))
        return super().validate_connection(config)

    def validate_engine(self, connection: DatabricksConnection) -> list[str]:
        if connection.port != DEFAULT_PORT:
            return [f"port {connection.port}: Databricks workspaces serve HTTPS on 443 (a proxy may differ)"]
        return []

    # -- dbt, catalogs, resources ----------------------------------------------------------
    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """A dbt-databricks output: the token as ``{{ env_var(...) }}``, never its value.

        ``threads`` is the target's pool size (statements dbt may run at once on the warehouse).
        The connector's telemetry is off for dbt too; a port other than 443 goes to the connector
        as ``connection_parameters._port`` (dbt-databricks has no key of its own for it).
        """
        connection = self.parse_connection(config)
        parameters: dict[str, Any] = {"enable_telemetry": False}
        if connection.port != DEFAULT_PORT:
            parameters["_port"] = connection.port
        output: dict[str, Any] = {
            "type": "databricks",
            "host": connection.host,
            "http_path": connection.http_path,
        }
        if connection.catalog is not None:
            output["catalog"] = connection.catalog
        output.update(
            schema=connection.schema_ or "default",
            token=dbt_env_var(config, "token"),
            threads=config.pool.size,
            connect_retries=DBT_CONNECT_RETRIES,
            connect_timeout=DBT_CONNECT_RETRY_DELAY_S,
            connection_parameters=parameters,
        )
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        """None: a warehouse reaches catalogs through Unity Catalog, set up in the workspace."""
        return None

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        """Requests and limits for this client process; the warehouse's size is set in the workspace."""
        return resource_preset(_RESOURCES, size)

    def get_required_packages(self) -> list[str]:
        return [CONNECTOR_REQUIREMENT, SDK_REQUIREMENT, "pyarrow>=15", DBT_REQUIREMENT]
