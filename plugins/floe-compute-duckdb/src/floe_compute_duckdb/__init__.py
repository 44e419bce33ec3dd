"""floe-tui compute plugin for DuckDB (entry point ``duckdb`` in ``floe.computes``)."""

__version__ = "0.1.0"

from floe_compute_duckdb.plugin import DuckDBComputePlugin

__all__ = ["DuckDBComputePlugin"]
