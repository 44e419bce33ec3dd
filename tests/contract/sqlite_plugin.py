"""A complete plugin written only against ``from floe_tui.compute import ...``: SQLite.

It proves that the public kit is enough to pass the compliance suite: the stdlib's sqlite3 is a
real engine (it burns this process's CPU and stops on ``interrupt()``), and nothing here reaches
into a submodule of floe_tui.compute. It is a test fixture, not a shipped plugin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import SecretStr

from floe_tui.compute import (
    CatalogConfig,
    Column,
    ComputeConfig,
    ConnectionConfig,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    QueryError,
    ResourcePreset,
    ResourceSize,
    ResourceSpec,
    resource_preset,
)

BATCH_ROWS = 10_000
_PRESETS: dict[str, ResourcePreset] = {
    "small": ("250m", "1", "256Mi", "512Mi"),
    "medium": ("1", "2", "1Gi", "2Gi"),
    "large": ("2", "4", "4Gi", "8Gi"),
}


class SQLiteConnection(ConnectionConfig):
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    path: str  # a file: every pooled connection opens the same database


class SQLiteResult:
    columns: list[Column]

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self.columns = [Column(name=d[0], type="ANY") for d in cursor.description or []]

    def next_batch(self) -> pa.RecordBatch | None:
        if not self.columns:
            return None
        try:
            rows = self._cursor.fetchmany(BATCH_ROWS)
        except sqlite3.Error as exc:
            raise QueryError(f"SQLite: {exc}") from None
        if not rows:
            return None
        names = [c.name for c in self.columns]
        return pa.record_batch([pa.array([row[i] for row in rows]) for i in range(len(names))], names=names)

    def close(self) -> None:
        self._cursor.close()


class SQLiteCursor:
    """One pooled connection: its own sqlite3 connection (``interrupt()`` stops its statement)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)  # used by one query thread at a time

    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> SQLiteResult:
        try:
            return SQLiteResult(self.db.execute(sql))
        except sqlite3.Error as exc:
            raise QueryError(f"SQLite: {exc}") from None

    def interrupt(self) -> None:
        self.db.interrupt()


class SQLitePlugin(PooledComputePlugin[SQLiteConnection, SQLiteCursor]):
    name: ClassVar[str] = "sqlite"
    version: ClassVar[str] = "0.0.1"
    description: ClassVar[str] = "SQLite, a test plugin written against the public kit only"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[ConnectionConfig]] = SQLiteConnection

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._path: str | None = None

    def open_engine(self, connection: SQLiteConnection, secrets: Mapping[str, SecretStr]) -> None:
        self._path = connection.path

    def close_engine(self) -> None:
        self._path = None

    def open_connection(self) -> SQLiteCursor:
        if self._path is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        return SQLiteCursor(self._path)

    def close_connection(self, conn: SQLiteCursor) -> None:
        conn.db.close()

    def check_connection(self, conn: SQLiteCursor) -> None:
        conn.db.execute("SELECT 1").fetchall()

    def memory_stats(self) -> MemoryStats | None:
        return None

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        path = self.parse_connection(config).path
        return {
            "type": "sqlite",
            "threads": 1,
            "database": "main",
            "schema": "main",
            "schemas_and_paths": {"main": path},
            "schema_directory": ".",
        }

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        return None

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        return resource_preset(_PRESETS, size)

    def get_required_packages(self) -> list[str]:
        return ["pyarrow>=15"]
