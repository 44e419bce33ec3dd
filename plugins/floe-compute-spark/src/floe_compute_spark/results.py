"""Result streams: Arrow record batches pulled from Spark one piece at a time, never collected whole.

Classic sessions: the statement's physical plan becomes an RDD of Arrow batches
(``Dataset.toArrowBatchRdd``) served to this process *one partition at a time* over a local socket
(``PythonRDD.toLocalIteratorAndServe``, the protocol behind ``DataFrame.toLocalIterator``): the driver
runs one Spark job per partition, only when the previous partition has been read. Memory in this
process stays at a few batches; the driver holds one partition (a partition must fit in the
driver's heap, as for ``toLocalIterator``).

Spark Connect: the server streams Arrow batches over gRPC (``ExecutePlan``); they are read as they
arrive.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from floe_compute_spark.errors import query_error
from floe_tui.compute import Column

if TYPE_CHECKING:
    import pyarrow as pa

_END_OF_DATA = -1
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def columns_of(struct_type: Any) -> list[Column]:
    """Column names and Spark SQL type names of a pyspark StructType."""
    return [Column(name=field.name, type=field.dataType.simpleString()) for field in struct_type.fields]


class ClassicResult:
    """Reads the partitions that the driver serves, as Arrow record batches."""

    columns: list[Column]

    def __init__(
        self,
        *,
        columns: list[Column],
        schema: pa.Schema,
        sock_info: Any,
        partitions: int,
        on_abandon: Callable[[], None],
        engine: str,
    ) -> None:
        from pyspark.util import _create_local_socket

        self.columns = columns
        self._engine = engine
        self._schema = schema
        self._partitions_left = partitions
        self._server = sock_info[2]
        self._on_abandon = on_abandon
        self._file, self._sock = _create_local_socket((sock_info[0], sock_info[1]))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._in_partition = False
        self._finished = False

    def _read_int(self) -> int:
        data = self._file.read(4)
        if len(data) < 4:
            raise EOFError("the Spark driver closed the result socket")
        # The driver writes small headers without TCP_NODELAY: acknowledge at once, or each
        # header waits for our delayed ACK (40 ms per partition).
        if _QUICKACK is not None:
            self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        value: int = struct.unpack("!i", data)[0]
        return value

    def _write_int(self, value: int) -> None:
        self._file.write(struct.pack("!i", value))
        self._file.flush()

    def next_batch(self) -> pa.RecordBatch | None:
        try:
            return self._next_batch()
        except Exception as exc:
            raise query_error(exc, engine=self._engine) from None

    def _next_batch(self) -> pa.RecordBatch | None:
        import pyarrow as pa

        while not self._finished:
            if not self._in_partition:
                if self._partitions_left <= 0:
                    self._finish(stop=True)
                    return None
                self._write_int(1)  # ask for the next partition: the driver runs its job now
                status = self._read_int()
                if status == 0:
                    self._finished = True
                    return None
                if status != 1:
                    self._finished = True
                    self._server.getResult()  # raises the job's error (cancelled, failed)
                    raise RuntimeError("the Spark driver failed to serve a partition")
                self._in_partition = True
                self._partitions_left -= 1
            length = self._read_int()
            if length == _END_OF_DATA:
                self._in_partition = False
                continue
            if length <= 0:
                continue
            payload = self._file.read(length)
            if len(payload) < length:
                raise EOFError("the Spark driver closed the result socket mid-batch")
            return pa.ipc.read_record_batch(pa.py_buffer(payload), self._schema)
        return None

    def _finish(self, *, stop: bool) -> None:
        self._finished = True
        if stop:
            with contextlib.suppress(OSError):
                self._write_int(0)  # no more partitions: the serving thread ends

    def close(self) -> None:
        if not self._finished:
            # Left early (limit reached, cancelled): stop the job that may be running for the
            # next partition and drop the socket; the driver's serving thread ends on its own.
            self._finished = True
            self._on_abandon()
        for closable in (self._file, self._sock):
            with contextlib.suppress(OSError):
                closable.close()


class CollectedResult:
    """A bounded (LIMIT) result the driver already holds, read as Arrow IPC chunks."""

    columns: list[Column]

    def __init__(self, *, columns: list[Column], chunks: Any, engine: str) -> None:
        self.columns = columns
        self._chunks = chunks
        self._engine = engine
        self._pending: list[pa.RecordBatch] = []

    def next_batch(self) -> pa.RecordBatch | None:
        import pyarrow as pa

        try:
            while not self._pending:
                if self._chunks is None or not self._chunks.hasNext():
                    self._chunks = None
                    return None
                reader = pa.ipc.open_stream(pa.py_buffer(bytes(self._chunks.next())))
                self._pending.extend(batch for batch in reader if batch.num_rows)
            return self._pending.pop(0)
        except Exception as exc:
            raise query_error(exc, engine=self._engine) from None

    def close(self) -> None:
        self._chunks = None
        self._pending = []


class ConnectResult:
    """Arrow batches as the Spark Connect server sends them."""

    columns: list[Column]

    def __init__(self, responses: Iterator[Any], on_abandon: Callable[[], None], engine: str) -> None:
        from pyspark.sql.types import StructType

        self._engine = engine
        self._responses = responses
        self._on_abandon = on_abandon
        self._pending: list[pa.RecordBatch] = []
        self._finished = False
        self.columns = []
        # The schema comes first; read until it is there so the handle can show columns at once.
        for item in responses:
            if isinstance(item, StructType):
                self.columns = columns_of(item)
                break
            self._take(item)
            if self._pending:
                self.columns = [Column(name=f.name, type=str(f.type)) for f in self._pending[0].schema]
                break
        else:
            self._finished = True

    def _take(self, table: Any) -> None:
        self._pending.extend(batch for batch in table.to_batches() if batch.num_rows)

    def next_batch(self) -> pa.RecordBatch | None:
        try:
            return self._next_batch()
        except Exception as exc:
            raise query_error(exc, engine=self._engine) from None

    def _next_batch(self) -> pa.RecordBatch | None:
        while not self._pending:
            if self._finished:
                return None
            try:
                item = next(self._responses)
            except StopIteration:
                self._finished = True
                return None
            if not hasattr(item, "to_batches"):
                continue
            self._take(item)
        return self._pending.pop(0)

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            self._on_abandon()
        closer = getattr(self._responses, "close", None)
        if callable(closer):
            with contextlib.suppress(Exception):  # the generator may already be broken by an interrupt
                closer()
