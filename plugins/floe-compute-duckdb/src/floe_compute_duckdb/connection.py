"""One DuckDB database instance and the cursors the pool lends out.

A pool is one database and N cursors on it: N ``duckdb.connect(':memory:')`` calls would be N
separate databases. A cursor is DuckDB's own connection object, so ``interrupt()`` on it stops
exactly the statement running on that cursor.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_compute_duckdb.config import DuckDBConnection, extension_file
from floe_tui.compute import (
    Column,
    ConfigError,
    ConnectionFailedError,
    DatabaseLockedError,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

BATCH_ROWS = 65_536
_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


def open_database(conn: DuckDBConnection, s3_secret: tuple[str, str] | None) -> duckdb.DuckDBPyConnection:
    """Open the database with its settings and load its extensions from their packages."""
    import duckdb

    check_path(conn)
    settings: dict[str, Any] = {"autoinstall_known_extensions": False}
    if conn.memory_limit:
        settings["memory_limit"] = conn.memory_limit
    if conn.threads:
        settings["threads"] = conn.threads
    if conn.temp_directory:
        settings["temp_directory"] = conn.temp_directory
    # Everything that can refuse the configuration runs before the file is opened, so a missing
    # package or a bad value leaves no file and no lock behind.
    files = [extension_file(name) for name in conn.load_order(s3_credentials=s3_secret is not None)]
    statements = [f"LOAD {quote_literal(str(file))}" for file in files]
    if s3_secret:
        key_id, secret = s3_secret
        statements.append(
            f"CREATE OR REPLACE SECRET floe_s3 (TYPE s3, KEY_ID {quote_literal(key_id)}, "
            f"SECRET {quote_literal(secret)})"
        )
    try:
        database = duckdb.connect(conn.path, read_only=conn.read_only, config=settings)
    except duckdb.IOException as exc:
        raise _open_error(conn, exc) from None
    except duckdb.Error as exc:
        raise ConfigError(f"DuckDB rejected the connection settings: {first_line(exc)}") from None
    try:
        for statement in statements:
            database.execute(statement)
    except duckdb.Error as exc:
        database.close()
        raise ConnectionFailedError(
            f"DuckDB could not load its extensions or secrets ({type(exc).__name__})",
            "check that the extension packages match the installed duckdb version",
        ) from None
    except BaseException:
        database.close()
        raise
    run_init_sql(database, conn.init_sql)
    return database


def run_init_sql(database: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    """The target's `init_sql`, once per database open (sample data, views, settings)."""
    import duckdb

    for number, statement in enumerate(statements, start=1):
        try:
            database.execute(statement)
        except duckdb.Error as exc:
            database.close()
            raise ConfigError(
                f"init_sql statement {number} failed: {first_line(exc)}",
                "fix the statement in connection.init_sql",
            ) from None


def check_path(conn: DuckDBConnection) -> None:
    """Refuse unusable paths with a clear error instead of DuckDB's long message."""
    if conn.temp_directory and not Path(conn.temp_directory).expanduser().parent.is_dir():
        raise ConfigError(
            f"temp_directory {conn.temp_directory} cannot be created", "create its parent directory"
        )
    if conn.in_memory:
        return
    path = Path(conn.path).expanduser()
    if path.is_dir():
        raise ConfigError(f"database path {conn.path} is a directory", "point `path` at a file")
    if not path.parent.is_dir():
        raise ConfigError(f"directory of database file {conn.path} does not exist", "create the directory")
    if conn.read_only and not path.is_file():
        raise ConfigError(
            f"database file {conn.path} does not exist",
            "create it first, or drop read_only to create it on connect",
        )


def _open_error(conn: DuckDBConnection, exc: Exception) -> ConnectionFailedError:
    text = str(exc)
    if "lock" in text.lower():
        holder = _LOCK_HOLDER.search(text)
        who = f"process {holder.group(1)}" if holder else "another process"
        # DuckDB lets one process write a file, or several read it when none of them writes:
        # read_only only helps when the holder is read-only too.
        hint = (
            "close the other process: it opened the file for writing, which also blocks readers"
            if conn.read_only
            else "close the other process, or open the file with read_only: true in every process"
        )
        return DatabaseLockedError(f"database file {conn.path} is locked by {who}", hint)
    return ConnectionFailedError(f"cannot open database file {conn.path}: {first_line(exc)}")


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def quote_literal(text: str) -> str:
    """A SQL string literal; refuses control characters (NUL, line breaks, tabs, escapes...).

    No legitimate path, URL, name or key holds one, and a literal with one is hard to read in a log.
    """
    if _has_control_character(text):
        raise ConfigError("a value holds a control character", "remove control characters from the value")
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    if _has_control_character(name):
        raise ConfigError("an identifier holds a control character", "use a plain name")
    return '"' + name.replace('"', '""') + '"'


class DuckDBCursor:
    """One pooled connection: a DuckDB cursor on the shared database."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor

    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> DuckDBResult:
        self.cursor.execute(sql)  # returns once the pipeline is ready: results are streamed
        return DuckDBResult(self.cursor)

    def interrupt(self) -> None:
        self.cursor.interrupt()

    def ping(self) -> None:
        self.cursor.execute("SELECT 1").fetchall()

    def close(self) -> None:
        self.cursor.close()


class DuckDBResult:
    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        description = cursor.description or []
        self.columns = [Column(name=str(d[0]), type=str(d[1])) for d in description]
        self._reader: pa.RecordBatchReader | None = (
            cursor.to_arrow_reader(BATCH_ROWS) if description else None
        )

    def next_batch(self) -> pa.RecordBatch | None:
        if self._reader is None:
            return None
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            return None

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
