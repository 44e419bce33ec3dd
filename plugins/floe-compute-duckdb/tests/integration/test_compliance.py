"""The DuckDB plugin against the whole compliance suite, in memory and on a file."""

from __future__ import annotations

from pathlib import Path

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig
from floe_tui.testing import ComputePluginCompliance

LONG_RUNNING = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"
LARGE_RESULT = "SELECT * FROM range(100000000) t(i)"


class TestDuckDBInMemory(ComputePluginCompliance):
    plugin_class = DuckDBComputePlugin
    long_running_sql = LONG_RUNNING
    large_result_sql = LARGE_RESULT
    secret_credential_names = ("s3_key_id", "s3_secret")

    def make_config(self, directory: Path) -> ComputeConfig:
        return ComputeConfig.from_mapping(
            {"name": "duckdb", "connection": {"path": ":memory:", "threads": 2, "memory_limit": "1GB"}}
        )


class TestDuckDBFile(TestDuckDBInMemory):
    def make_config(self, directory: Path) -> ComputeConfig:
        return ComputeConfig.from_mapping(
            {"name": "duckdb", "connection": {"path": str(directory / "warehouse.duckdb"), "threads": 2}}
        )
