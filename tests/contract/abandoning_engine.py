"""A deliberately broken toy plugin: on cancel it stops waiting but leaves the work running.

It exists to prove that the compliance suite fails such a plugin; its "engine" is a child
process that burns a core, which is what an out-of-process engine (a JVM, a server) looks like.
"""

from __future__ import annotations

import subprocess
import sys
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
    ResourceSpec,
)

BURN = "BURN"
ROWS = "ROWS"
# Long enough to outlast a slow measurement on a loaded machine; killed when the engine closes.
_BURNER = "import time\nend = time.time() + 300\nwhile time.time() < end: pass\n"


class ToyConnection(ConnectionConfig):
    pass


class _Stream:
    def __init__(self, columns: list[Column], batches: Any, stopped: threading.Event) -> None:
        self.columns = columns
        self._batches = batches
        self._stopped = stopped

    def next_batch(self) -> pa.RecordBatch | None:
        if self._stopped.is_set():
            raise RuntimeError("interrupted")
        return next(self._batches, None)

    def close(self) -> None:
        pass


class _AbandoningConnection:
    def __init__(self, burners: list[subprocess.Popen[bytes]]) -> None:
        self._stopped = threading.Event()
        self._burners = burners

    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> _Stream:
        self._stopped.clear()
        if sql.startswith("SELECT 1"):
            name = "one" if "AS one" in sql else "1"
            return _Stream(
                [Column(name=name, type="INTEGER")], iter([pa.record_batch({name: [1]})]), self._stopped
            )
        if sql == ROWS:
            forever = (pa.record_batch({"i": list(range(1000))}) for _ in iter(int, 1))
            return _Stream([Column(name="i", type="BIGINT")], forever, self._stopped)
        if sql == BURN:
            self._burners.append(subprocess.Popen([sys.executable, "-c", _BURNER]))  # never stopped by cancel
            self._stopped.wait()  # the Python side waits... until told to give up
            raise RuntimeError("interrupted")
        raise ValueError(f"syntax error in {sql[:20]!r}")

    def interrupt(self) -> None:
        self._stopped.set()


class AbandoningPlugin(PooledComputePlugin[ToyConnection, _AbandoningConnection]):
    name: ClassVar[str] = "abandoning"
    version: ClassVar[str] = "0.0.1"
    description: ClassVar[str] = "cancels the wait, not the work"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[ConnectionConfig]] = ToyConnection

    def open_engine(self, connection: ToyConnection, secrets: Mapping[str, SecretStr]) -> None:
        self._burners: list[subprocess.Popen[bytes]] = []

    def close_engine(self) -> None:
        for burner in self._burners:  # the work outlives every cancel; only closing the engine ends it
            burner.kill()
            burner.wait()

    def open_connection(self) -> _AbandoningConnection:
        return _AbandoningConnection(self._burners)

    def close_connection(self, conn: _AbandoningConnection) -> None:
        pass

    def check_connection(self, conn: _AbandoningConnection) -> None:
        pass

    def memory_stats(self) -> MemoryStats | None:
        return None

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        return {"type": "toy"}

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        return None

    def get_resource_requirements(self, size: Any) -> ResourceSpec:
        return ResourceSpec(
            size=size, cpu_request="1", cpu_limit="1", memory_request="1Gi", memory_limit="1Gi"
        )

    def get_required_packages(self) -> list[str]:
        return ["toy-engine>=1"]
