"""BigQuery: Google's warehouse, reached over its REST API with Google's official client."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr

from floe_compute_bigquery import __version__
from floe_compute_bigquery.config import (
    CREDENTIAL_NAMES,
    KEYFILE,
    TOKEN,
    BigQueryConnection,
    auth_method,
    service_account_info,
)
from floe_compute_bigquery.connection import SCOPES, BigQuerySession, JobSettings, engine_error
from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    ComputeError,
    ConfigError,
    ConnectionResult,
    HealthVia,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    ResourceSize,
    ResourceSpec,
    dbt_env_var,
    resource_preset,
)

# The work runs in BigQuery: these size the client (a dbt run, the console), not the engine.
_RESOURCES = {
    "small": ("250m", "1", "512Mi", "1Gi"),
    "medium": ("500m", "2", "1Gi", "2Gi"),
    "large": ("1", "4", "2Gi", "4Gi"),
}
#: How long fetching the keyfile's first access token may take (per request).
TOKEN_TIMEOUT_S = 30.0


class BigQueryComputePlugin(PooledComputePlugin[BigQueryConnection, BigQuerySession]):
    name: ClassVar[str] = "bigquery"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = "Google BigQuery, over its REST API (or a local emulator at api_endpoint)"
    is_self_hosted: ClassVar[bool] = False
    config_model: ClassVar[type[BigQueryConnection]] = BigQueryConnection
    credential_names: ClassVar[frozenset[str]] = CREDENTIAL_NAMES
    # Every call may bill or count against quotas: poll rarely, and connect only when asked.
    min_poll_interval_s: ClassVar[float] = 60.0
    connect_on_view: ClassVar[bool] = False
    # Health is a free metadata call on a pooled client, never a query job (jobs bill).
    health_via: ClassVar[HealthVia] = "check"
    #: A connection busy half a second ago is lent without a check request (HikariCP's
    #: aliveBypassWindowMs): here a check is an HTTP round trip, a third of a `SELECT 1`.
    check_after_idle_s: ClassVar[float] = 0.5

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._settings: JobSettings | None = None
        # google-auth and the Storage client are mostly untyped: held as Any.
        self._credentials: Any = None
        self._storage: Any = None

    def parse_connection(self, config: ComputeConfig) -> BigQueryConnection:
        connection = super().parse_connection(config)
        auth_method(config)  # exactly one of keyfile and token
        return connection

    # -- engine hooks ----------------------------------------------------------------------
    def open_engine(self, connection: BigQueryConnection, secrets: Mapping[str, SecretStr]) -> None:
        config = self.config
        credentials = self._credentials_of(config, secrets)
        if auth_method(config) == KEYFILE:
            # The first access token now, so a keyfile the token service refuses fails connect().
            import google.auth.transport.requests

            request = functools.partial(google.auth.transport.requests.Request(), timeout=TOKEN_TIMEOUT_S)
            try:
                credentials.refresh(request)
            except Exception as exc:
                raise engine_error(exc, self._job_settings(connection), checking=True) from None
        if not connection.api_endpoint:
            # Real BigQuery: whole results stream over the Storage Read API, with our credentials.
            from google.cloud import bigquery_storage_v1

            read_client: Any = bigquery_storage_v1.BigQueryReadClient
            self._storage = read_client(credentials=credentials)
        self._settings = self._job_settings(connection)
        self._credentials = credentials

    def close_engine(self) -> None:
        storage, self._storage = self._storage, None
        self._credentials = None
        if storage is not None:
            storage.transport.close()

    def open_connection(self) -> BigQuerySession:
        if self._settings is None or self._credentials is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        session = BigQuerySession(self._settings, self._credentials, self._storage)
        try:
            session.check()  # a free call: connect() fails here when nothing answers
        except BaseException:
            session.close()
            raise
        return session

    def close_connection(self, conn: BigQuerySession) -> None:
        conn.close()

    def check_connection(self, conn: BigQuerySession) -> None:
        conn.check()

    def validate_engine(self, connection: BigQueryConnection) -> list[str]:
        if connection.maximum_bytes_billed is None and not connection.local:
            return ["no connection.maximum_bytes_billed: a query may bill any amount"]
        return []

    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        """Configuration, references and the keyfile, offline: no job, no request."""
        result = super().validate_connection(config)
        if not result.success:
            return result
        try:
            if auth_method(config) == KEYFILE:
                ref = config.credentials[KEYFILE]
                self._credentials_of(config, {KEYFILE: ref.resolve()})
        except ComputeError as exc:
            return ConnectionResult(success=False, message=str(exc))
        return result

    def _credentials_of(self, config: ComputeConfig, secrets: Mapping[str, SecretStr]) -> Any:
        from google.oauth2 import credentials, service_account

        if auth_method(config) == TOKEN:
            token_credentials: Any = credentials.Credentials
            return token_credentials(token=secrets[TOKEN].get_secret_value())

        file_name = _keyfile_name(config)
        info = service_account_info(secrets[KEYFILE], file_name)
        key_credentials: Any = service_account.Credentials
        try:
            return key_credentials.from_service_account_info(info, scopes=list(SCOPES))
        except (ValueError, TypeError, KeyError):
            raise ConfigError(
                f"keyfile {file_name} holds no usable private key",
                "download a new key of the service account",
            ) from None

    def _job_settings(self, connection: BigQueryConnection) -> JobSettings:
        config = self.config
        return JobSettings.of(connection, config.query_timeout_s, config.pool.connect_timeout_s)

    # -- engine facts ----------------------------------------------------------------------
    def memory_stats(self) -> MemoryStats | None:
        return None  # BigQuery reports slots and bytes, not memory

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """A dbt-bigquery output: the keyfile's path, or the token as ``{{ env_var(...) }}``.

        Jobs are not retried (``job_retries: 0``: dbt-bigquery's retries re-ran jobs) and stop after
        the target's query timeout (``job_execution_timeout_seconds``).
        """
        connection = self.parse_connection(config)
        if connection.dataset is None:
            raise ConfigError(
                f"target {config.name!r} has no connection.dataset, which dbt-bigquery needs",
                "set connection.dataset to the dataset dbt builds into",
            )
        output: dict[str, Any] = {"type": "bigquery"}
        if auth_method(config) == KEYFILE:
            keyfile = config.credentials[KEYFILE].file
            assert keyfile is not None  # auth_method checked it
            output |= {"method": "service-account", "keyfile": str(keyfile.expanduser())}
        else:
            output |= {"method": "oauth-secrets", "token": dbt_env_var(config, TOKEN)}
        output |= {
            "project": connection.project,
            "dataset": connection.dataset,
            "threads": config.pool.size,
            "priority": connection.priority,
            "job_execution_timeout_seconds": math.ceil(config.query_timeout_s),
            "job_retries": 0,
        }
        if connection.location:
            output["location"] = connection.location
        if connection.maximum_bytes_billed is not None:
            output["maximum_bytes_billed"] = connection.maximum_bytes_billed
        if connection.api_endpoint:
            output["api_endpoint"] = connection.api_endpoint
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        return None  # BigQuery reads Iceberg through BigLake tables, not an ATTACH statement

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        return resource_preset(_RESOURCES, size)

    def get_required_packages(self) -> list[str]:
        return [
            "google-cloud-bigquery>=3.47,<4",
            "google-cloud-bigquery-storage>=2.43,<3",
            "dbt-bigquery~=1.12.1",
        ]


def _keyfile_name(config: ComputeConfig) -> str:
    ref = config.credentials[KEYFILE]
    return ref.file.name if ref.file is not None else KEYFILE
