"""A toy engine whose calls can hang: its interrupt does nothing, like a client stuck on a socket.

Each hang lasts until the test releases it (``HangingPlugin.release_all``), so no thread outlives
the test. It stands in for a network engine whose server stopped answering; the fault suite
does the same to real servers with SIGSTOP.
"""

from __future__ import annotations

import threading
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
    PooledComputePlugin,
    QueryStats,
    ResourceSize,
    ResourceSpec,
)

HANG = "HANG"


class HangingConnection(ConnectionConfig):
    hang_open: bool = False
    hang_check: bool = False


class _OneRow:
    columns = [Column(name="one", type="INTEGER")]

    def __init__(self) -> None:
        self._sent = False

    def next_batch(self) -> pa.RecordBatch | None:
        if self._sent:
            return None
        self._sent = True
        return pa.record_batch({"one": [1]})

    def close(self) -> None:
        pass

    def stats(self) -> QueryStats:
        return QueryStats(query_id="toy-1", bytes_processed=8)


class _Conn:
    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.interrupts = 0
        self.closed = False

    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> _OneRow:
        if sql == HANG:
            self.gate.wait()  # the "network call": deaf to interrupt()
        return _OneRow()

    def interrupt(self) -> None:
        self.interrupts += 1  # sent, never honoured


class HangingPlugin(PooledComputePlugin[HangingConnection, _Conn]):
    name: ClassVar[str] = "hanging"
    version: ClassVar[str] = "0.0.1"
    description: ClassVar[str] = "an engine whose calls hang and whose interrupt does nothing"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[ConnectionConfig]] = HangingConnection
    gate = threading.Event()

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self.opened: list[_Conn] = []

    @classmethod
    def release_all(cls) -> None:
        cls.gate.set()
        cls.gate = threading.Event()

    def open_engine(self, connection: HangingConnection, secrets: Mapping[str, SecretStr]) -> None:
        pass

    def close_engine(self) -> None:
        pass

    def open_connection(self) -> _Conn:
        if self.connection_config.hang_open and self.opened:  # the first opens, the next ones hang
            self.gate.wait()
        conn = _Conn(self.gate)
        self.opened.append(conn)
        return conn

    def close_connection(self, conn: _Conn) -> None:
        conn.closed = True

    def check_connection(self, conn: _Conn) -> None:
        if self.connection_config.hang_check:
            self.gate.wait()

    def memory_stats(self) -> MemoryStats | None:
        return None

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        return {"type": "toy"}

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        return None

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        return ResourceSpec(
            size=size, cpu_request="1", cpu_limit="1", memory_request="1Gi", memory_limit="1Gi"
        )

    def get_required_packages(self) -> list[str]:
        return ["toy-engine>=1"]
