"""The DuckDB target's `connection` model and where its extensions come from.

Extensions load from their PyPI packages (``duckdb-extension-<name>``), never from DuckDB's
download site: it is unreachable in air-gapped sites and from this project's CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from floe_tui.compute import ConnectionConfig, ExtensionNotInstalledError, parse_byte_size

MEMORY = ":memory:"
#: Compiled into the duckdb wheel: nothing to load.
BUILT_IN_EXTENSIONS = frozenset({"core_functions", "icu", "json", "parquet"})
#: Loaded first, because the named extension needs them.
EXTENSION_NEEDS = {"iceberg": ("avro", "httpfs")}


class DuckDBConnection(ConnectionConfig):
    path_fields: ClassVar[tuple[str, ...]] = ("path", "temp_directory")

    path: str = Field(default=MEMORY, min_length=1)
    read_only: bool = False
    memory_limit: str | None = None
    threads: int | None = Field(default=None, ge=1, le=1024)
    temp_directory: str | None = None
    extensions: list[str] = Field(default_factory=list)
    #: Statements run once each time the database opens, after the extensions load.
    init_sql: list[str] = Field(default_factory=list)

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        # The message names the rule, never the value (errors must not quote configuration).
        if value is not None:
            try:
                size = parse_byte_size(value)
            except ValueError:
                size = None
            if size is None or not value.strip().upper().endswith("B"):  # DuckDB needs the unit
                raise ValueError("not a size; use a number and a unit such as 512MB or 2GiB")
            if size <= 0:
                raise ValueError("must be more than 0 bytes")
        return value

    @field_validator("extensions")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if not name.isidentifier() or not name.islower() or not name.isascii():
                raise ValueError(f"entry {index} is not an extension name (lower-case letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _read_only_needs_a_file(self) -> DuckDBConnection:
        if self.read_only and self.in_memory:
            raise ValueError("read_only needs a database file, not :memory:")
        return self

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY or self.path.startswith(":memory:")

    def load_order(self, *, s3_credentials: bool = False) -> list[str]:
        """Extensions to load, each after the ones it needs, built-ins left out.

        S3 credentials become a DuckDB secret of type s3, which only ``httpfs`` defines.
        """
        order: list[str] = []
        for name in (*self.extensions, *(("httpfs",) if s3_credentials else ())):
            for needed in (*EXTENSION_NEEDS.get(name, ()), name):
                if needed not in order and needed not in BUILT_IN_EXTENSIONS:
                    order.append(needed)
        return order


def extension_file(name: str) -> Path:
    """The extension binary shipped by the `duckdb-extension-<name>` package."""
    import duckdb

    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionNotInstalledError(
            f"DuckDB extension {name!r} is not installed",
            f"pip install duckdb-extension-{name}=={duckdb.__version__}",
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    matches = sorted(root.glob(f"v{duckdb.__version__}/{name}.duckdb_extension")) or sorted(
        root.glob(f"*/{name}.duckdb_extension")
    )
    if not matches:
        raise ExtensionNotInstalledError(
            f"package duckdb-extension-{name} has no build for duckdb {duckdb.__version__}",
            f"pip install duckdb-extension-{name}=={duckdb.__version__}",
        )
    return matches[0]
