"""DuckDB: the embedded default engine, in memory or on a local file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from floe_compute_duckdb import __version__
from floe_compute_duckdb.config import DuckDBConnection, extension_file
from floe_compute_duckdb.connection import (
    DuckDBCursor,
    check_path,
    open_database,
    quote_identifier,
    quote_literal,
)
from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    ResourceSpec,
)
from floe_tui.compute.models import parse_byte_size
from floe_tui.compute.plugin import ResourceSize

if TYPE_CHECKING:
    import duckdb

_RESOURCES = {
    "small": ("500m", "1", "1Gi", "2Gi"),
    "medium": ("2", "4", "4Gi", "8Gi"),
    "large": ("4", "8", "16Gi", "32Gi"),
}


class DuckDBComputePlugin(PooledComputePlugin[DuckDBCursor]):
    name: ClassVar[str] = "duckdb"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = "DuckDB, embedded: in memory or on a local database file"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[DuckDBConnection]] = DuckDBConnection
    credential_names: ClassVar[frozenset[str]] = frozenset({"s3_key_id", "s3_secret"})

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._monitor: duckdb.DuckDBPyConnection | None = None
        self._monitor_lock = threading.Lock()

    # -- engine hooks ----------------------------------------------------------------------
    def _open_engine(self, connection: Any, secrets: dict[str, SecretStr]) -> None:
        s3 = None
        if secrets:
            if set(secrets) != {"s3_key_id", "s3_secret"}:
                from floe_tui.compute import ConfigError

                raise ConfigError("S3 credentials need both s3_key_id and s3_secret", "add the missing one")
            s3 = (secrets["s3_key_id"].get_secret_value(), secrets["s3_secret"].get_secret_value())
        database = open_database(connection, s3)
        self._database = database
        self._monitor = database.cursor()

    def _close_engine(self) -> None:
        database, self._database = self._database, None
        with self._monitor_lock:
            monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.close()
        if database is not None:
            database.close()

    def _open_connection(self) -> DuckDBCursor:
        if self._database is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        return DuckDBCursor(self._database.cursor())

    def _close_connection(self, conn: DuckDBCursor) -> None:
        conn.close()

    def _check_connection(self, conn: DuckDBCursor) -> None:
        conn.ping()

    def _validate_engine(self, connection: Any) -> list[str]:
        check_path(connection)
        for name in connection.load_order():
            extension_file(name)
        return []

    # -- engine facts ----------------------------------------------------------------------
    def memory_stats(self) -> MemoryStats | None:
        with self._monitor_lock:
            if self._monitor is None:
                return None
            rows = self._monitor.execute(
                "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()"
            ).fetchall()
            limit = self._monitor.execute("SELECT current_setting('memory_limit')").fetchone()
        by_tag = {str(tag): int(used) for tag, used, _ in rows if used}
        return MemoryStats(
            used_bytes=sum(int(used) for _, used, _ in rows),
            limit_bytes=parse_byte_size(str(limit[0])) if limit else None,
            temp_storage_bytes=sum(int(temp) for _, _, temp in rows),
            by_tag=by_tag,
        )

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        connection = self.parse_connection(config)
        assert isinstance(connection, DuckDBConnection)
        output: dict[str, Any] = {
            "type": "duckdb",
            "path": connection.path,
            "threads": connection.threads or 1,
        }
        settings: dict[str, Any] = {}
        if connection.memory_limit:
            settings["memory_limit"] = connection.memory_limit
        if connection.temp_directory:
            settings["temp_directory"] = connection.temp_directory
        if settings:
            output["settings"] = settings
        if connection.read_only:
            output.setdefault("config_options", {})["access_mode"] = "READ_ONLY"
        if connection.load_order():
            # dbt-duckdb installs extensions by name from the network; point it at the package files.
            output["extensions"] = [str(extension_file(name)) for name in connection.load_order()]
        if config.credentials:
            output["secrets"] = [
                {
                    "type": "s3",
                    "key_id": _env_var(config, "s3_key_id"),
                    "secret": _env_var(config, "s3_secret"),
                }
            ]
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        options = [f"TYPE ICEBERG, ENDPOINT {quote_literal(catalog.uri)}"]
        if catalog.token is None:
            options.append("AUTHORIZATION_TYPE 'none'")
        else:
            # The secret is created from the reference at run time (attach_catalog), never inlined.
            options.append(f"SECRET {quote_identifier(_catalog_secret(catalog))}")
        warehouse = quote_literal(catalog.warehouse or "")
        return f"ATTACH {warehouse} AS {quote_identifier(catalog.name)} ({', '.join(options)})"

    def attach_catalog(self, catalog: CatalogConfig, timeout: float = 30.0) -> None:
        """Attach an Iceberg REST catalog on this target's database (httpfs and iceberg must be loaded)."""
        if catalog.token is not None:
            token = catalog.token.resolve().get_secret_value()
            create = (
                f"CREATE OR REPLACE SECRET {quote_identifier(_catalog_secret(catalog))} "
                f"(TYPE ICEBERG, TOKEN {quote_literal(token)})"
            )
            self.execute(create, timeout=timeout).fetch_all()
        sql = self.get_catalog_attachment_sql(catalog)
        assert sql is not None
        self.execute(sql, timeout=timeout).fetch_all()

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        cpu_request, cpu_limit, memory_request, memory_limit = _RESOURCES[size]
        return ResourceSpec(
            size=size,
            cpu_request=cpu_request,
            cpu_limit=cpu_limit,
            memory_request=memory_request,
            memory_limit=memory_limit,
        )

    def get_required_packages(self) -> list[str]:
        import duckdb

        packages = [f"duckdb=={duckdb.__version__}", "dbt-duckdb~=1.10.0"]
        if self._config is not None:
            connection = self.parse_connection(self._config)
            assert isinstance(connection, DuckDBConnection)
            packages += [f"duckdb-extension-{n}=={duckdb.__version__}" for n in connection.load_order()]
        return packages

    @property
    def database_path(self) -> Path | None:
        connection = self.parse_connection(self.config)
        assert isinstance(connection, DuckDBConnection)
        return None if connection.in_memory else Path(connection.path)


def _env_var(config: ComputeConfig, name: str) -> str:
    ref = config.credentials[name]
    if ref.env is None:
        from floe_tui.compute import ConfigError

        raise ConfigError(
            f"credential {name!r} is a file reference; dbt profiles read secrets from environment variables",
            "reference the secret as {env: NAME} for targets used by dbt",
        )
    return "{{ env_var('" + ref.env + "') }}"


def _catalog_secret(catalog: CatalogConfig) -> str:
    return f"floe_catalog_{catalog.name}"
