"""DuckDB: the embedded default engine, in memory or on a local file."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from floe_compute_duckdb import __version__
from floe_compute_duckdb.config import DuckDBConnection, extension_file
from floe_compute_duckdb.connection import (
    DuckDBCursor,
    check_path,
    first_line,
    open_database,
    quote_identifier,
    quote_literal,
)
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
    QueryError,
    ResourcePreset,
    ResourceSize,
    ResourceSpec,
    dbt_env_var,
    parse_byte_size,
    resource_preset,
)

if TYPE_CHECKING:
    import duckdb

_RESOURCES: dict[str, ResourcePreset] = {
    "small": ("500m", "1", "1Gi", "2Gi"),
    "medium": ("2", "4", "4Gi", "8Gi"),
    "large": ("4", "8", "16Gi", "32Gi"),
}


class DuckDBComputePlugin(PooledComputePlugin[DuckDBConnection, DuckDBCursor]):
    name: ClassVar[str] = "duckdb"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = "DuckDB, embedded: in memory or on a local database file"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[DuckDBConnection]] = DuckDBConnection
    credential_names: ClassVar[frozenset[str]] = frozenset({"s3_key_id", "s3_secret"})
    #: A health poll is the memory reading on the database's monitoring cursor: one statement, no
    #: lease and no `SELECT 1` beside it (the dashboard polls every second). The database answers
    #: or it does not; a pooled cursor is lost only with it.
    health_via: ClassVar[HealthVia] = "memory"
    #: A cursor on an in-process database is lost only with the database: a query need not check
    #: one that was busy seconds ago.
    check_after_idle_s: ClassVar[float] = 5.0

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._monitor: duckdb.DuckDBPyConnection | None = None
        self._monitor_lock = threading.Lock()

    # -- engine hooks ----------------------------------------------------------------------
    def open_engine(self, connection: DuckDBConnection, secrets: Mapping[str, SecretStr]) -> None:
        s3 = None
        if secrets:
            _check_s3_pair(secrets)
            s3 = (secrets["s3_key_id"].get_secret_value(), secrets["s3_secret"].get_secret_value())
        database = open_database(connection, s3)
        self._database = database
        self._monitor = database.cursor()
        import pyarrow  # noqa: F401  (DuckDB imports it on the first Arrow fetch: pay that here, not then)

    def close_engine(self) -> None:
        database, self._database = self._database, None
        with self._monitor_lock:
            monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.close()
        if database is not None:
            database.close()

    def open_connection(self) -> DuckDBCursor:
        if self._database is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        return DuckDBCursor(self._database.cursor())

    def close_connection(self, conn: DuckDBCursor) -> None:
        conn.close()

    def check_connection(self, conn: DuckDBCursor) -> None:
        conn.ping()

    def validate_engine(self, connection: DuckDBConnection) -> list[str]:
        check_path(connection)
        for name in connection.load_order():
            extension_file(name)
        return []

    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        result = super().validate_connection(config)
        if not result.success or not config.credentials:
            return result
        try:  # S3 credentials need both halves and the httpfs package (see open_engine)
            _check_s3_pair(config.credentials)
            extension_file("httpfs")
        except ComputeError as exc:
            return ConnectionResult(success=False, message=str(exc))
        return result

    # -- engine facts ----------------------------------------------------------------------
    def memory_stats(self) -> MemoryStats | None:
        import duckdb

        with self._monitor_lock:
            if self._monitor is None:
                return None
            try:
                rows = self._monitor.execute(  # one statement: the dashboard asks every second
                    "SELECT tag, memory_usage_bytes, temporary_storage_bytes, "
                    "current_setting('memory_limit') FROM duckdb_memory()"
                ).fetchall()
            except duckdb.Error as exc:  # e.g. out of memory: report it in one line, as a ComputeError
                raise QueryError(f"DuckDB could not report its memory: {first_line(exc)}") from None
        by_tag = {str(tag): int(used) for tag, used, _, _ in rows if used}
        return MemoryStats(
            used_bytes=sum(int(used) for _, used, _, _ in rows),
            limit_bytes=_limit_bytes(rows[0][3] if rows else None),
            temp_storage_bytes=sum(int(temp) for _, _, temp, _ in rows),
            by_tag=by_tag,
        )

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """A dbt-duckdb output for `config`; the same output serves every environment.

        dbt-duckdb (1.10) runs ``INSTALL <entry>`` then ``LOAD <entry>`` for each string under
        ``extensions``; given a file path, INSTALL copies that file into DuckDB's extension
        directory (``~/.duckdb/extensions``) and LOAD loads it from the path: no network. Extension
        names would make DuckDB download them, which fails offline. The paths are those of the
        ``duckdb-extension-*`` packages in this environment, so the profile belongs to the machine
        that generated it. S3 credentials add ``httpfs``, the extension that defines S3 secrets.
        The engine settings are `config_options` (passed to ``duckdb.connect``), never `settings`.
        """
        connection = self.parse_connection(config)
        if config.credentials:
            _check_s3_pair(config.credentials)
        # Engine settings go to duckdb.connect(config=...) as `config_options`, like open_engine does.
        # dbt-duckdb's `settings` would run `SET key = '<value>'` unquoted: a path with a quote breaks it.
        options: dict[str, Any] = {"autoinstall_known_extensions": False}
        if connection.memory_limit:
            options["memory_limit"] = connection.memory_limit
        if connection.threads:
            options["threads"] = connection.threads
        if connection.temp_directory:
            options["temp_directory"] = connection.temp_directory
        if connection.read_only:
            options["access_mode"] = "READ_ONLY"
        output: dict[str, Any] = {
            "type": "duckdb",
            "path": connection.path,
            "threads": connection.threads or 1,  # dbt's own concurrency: models built at once
            "config_options": options,
        }
        extensions = connection.load_order(s3_credentials=bool(config.credentials))
        if extensions:
            # dbt-duckdb installs extensions by name from the network; point it at the package files.
            output["extensions"] = [str(extension_file(name)) for name in extensions]
        if config.credentials:
            output["secrets"] = [
                {
                    "type": "s3",
                    "key_id": dbt_env_var(config, "s3_key_id"),
                    "secret": dbt_env_var(config, "s3_secret"),
                }
            ]
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str:
        options = [f"TYPE ICEBERG, ENDPOINT {quote_literal(catalog.uri)}"]
        if catalog.token is None:
            options.append("AUTHORIZATION_TYPE 'none'")
        else:
            # The secret is created from the reference at run time (attach_catalog), never inlined.
            options.append(f"SECRET {quote_identifier(_catalog_secret(catalog))}")
        warehouse = quote_literal(catalog.warehouse or "")
        return f"ATTACH {warehouse} AS {quote_identifier(catalog.name)} ({', '.join(options)})"

    def attach_catalog(self, catalog: CatalogConfig, timeout: float = 30.0) -> None:
        """Attach an Iceberg REST catalog on this target's database (needs `extensions: [iceberg]`)."""
        if "iceberg" not in self.connection_config.load_order():
            # Without it DuckDB fails with "INSTALL iceberg", a download this plugin never does.
            raise ConfigError(
                f"target {self.config.name!r} cannot attach Iceberg catalogs without the iceberg extension",
                "add iceberg to the target's connection.extensions",
            )
        if catalog.token is not None:
            token = catalog.token.resolve().get_secret_value()
            create = (
                f"CREATE OR REPLACE SECRET {quote_identifier(_catalog_secret(catalog))} "
                f"(TYPE ICEBERG, TOKEN {quote_literal(token)})"
            )
            self.execute(create, timeout=timeout).fetch_all()
        self.execute(self.get_catalog_attachment_sql(catalog), timeout=timeout).fetch_all()

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        return resource_preset(_RESOURCES, size)

    def get_required_packages(self) -> list[str]:
        import duckdb

        packages = [f"duckdb=={duckdb.__version__}", "dbt-duckdb~=1.10.0"]
        if self._config is not None:
            extensions = self.connection_config.load_order(s3_credentials=bool(self._config.credentials))
            packages += [f"duckdb-extension-{n}=={duckdb.__version__}" for n in extensions]
        return packages


def _check_s3_pair(credentials: Mapping[str, object]) -> None:
    if set(credentials) != {"s3_key_id", "s3_secret"}:
        raise ConfigError("S3 credentials need both s3_key_id and s3_secret", "add the missing one")


def _limit_bytes(setting: object) -> int | None:
    """DuckDB's printed memory_limit in bytes; None for a form the core parser does not know."""
    if setting is None:
        return None
    try:
        return parse_byte_size(str(setting))
    except ValueError:  # e.g. "88.8 PiB": no limit worth reporting a fraction against
        return None


def _catalog_secret(catalog: CatalogConfig) -> str:
    return f"floe_catalog_{catalog.name}"
