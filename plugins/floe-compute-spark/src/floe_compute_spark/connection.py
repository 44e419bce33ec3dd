"""What the pool lends: a job slot on the target's one Spark session.

A Spark session is heavy (a JVM, or a session on a Connect server) and thread-safe, so a target
opens exactly one, and a pooled "connection" is a *slot* for one concurrent query on it. Each slot
owns a unique job group (classic) or job tag (Spark Connect): cancelling a slot stops exactly the
Spark jobs of the query it runs, and nothing else on the shared session. ``pool.size`` is therefore
the number of queries that may run at once on the target; opening a slot costs nothing, the
session itself is opened by ``connect()`` within ``connect_timeout_s``.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any, cast

from floe_compute_spark.errors import query_error
from floe_compute_spark.results import ClassicResult, CollectedResult, ConnectResult, columns_of
from floe_tui.compute import QueryCancelledError

if TYPE_CHECKING:
    from floe_compute_spark.classic import ClassicEngine
    from floe_compute_spark.connect import ConnectEngine
    from floe_compute_spark.engine import SparkEngine

_slot_numbers = itertools.count(1)
#: Limited queries up to this many rows are collected by Spark's LIMIT machinery, then converted.
COLLECT_LIMIT = 100_001
COLLECT_BATCH_BYTES = 8 * 1024 * 1024


class SparkSlot:
    """One pooled connection: a job group / tag on the target's session."""

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine
        self.number = next(_slot_numbers)
        safe_target = "".join(c if c.isalnum() or c in "-_" else "-" for c in engine.target)
        self.label = f"floe-{safe_target}-{self.number}"
        #: The job group (classic) or tag (Spark Connect) of the query running now: one per query,
        #: so that a cancel still on its way for the previous query cannot stop the next one.
        self.current: str | None = None
        self._queries = itertools.count(1)
        self._interrupted = threading.Event()

    # -- the EngineConnection protocol -------------------------------------------------------
    def run(
        self, sql: str, row_limit: int | None, timeout_s: float
    ) -> ClassicResult | CollectedResult | ConnectResult:
        """`timeout_s` is unused: Spark has no statement timeout; the core's deadline cancels the jobs."""
        label = f"{self.label}-{next(self._queries)}"
        self.current = label
        if self._interrupted.is_set():
            raise QueryCancelledError("query cancelled")
        if self.engine.mode == "connect":
            return self._run_connect(sql, row_limit, label)
        return self._run_classic(sql, row_limit, label)

    def interrupt(self) -> None:
        """Stop the query's Spark jobs; returns at once (the engine's canceller thread sends it)."""
        self._interrupted.set()
        label = self.current
        if label is not None:
            self.engine.cancel(label)

    def reset(self) -> None:
        """Forget an interrupt aimed at the previous query (called when the pool lends the slot again)."""
        self._interrupted.clear()

    def _check_interrupted(self) -> None:
        if self._interrupted.is_set():
            raise QueryCancelledError("query cancelled")

    # -- classic -----------------------------------------------------------------------------
    def _run_classic(self, sql: str, row_limit: int | None, label: str) -> ClassicResult | CollectedResult:
        import pyarrow as pa
        from pyspark.sql.types import _parse_datatype_json_string

        engine = cast("ClassicEngine", self.engine)  # mode "classic" is a ClassicEngine
        runtime = engine.runtime
        context = runtime.context
        try:
            if context is None or engine.session is None:
                raise RuntimeError("Error while sending or receiving: the Spark JVM is not running")
            # Thread-local in the driver (pinned py4j threads): every job this query starts, and those
            # of the driver thread that serves its result, belong to the group cancelJobGroup stops.
            context._jsc.setJobGroup(label, _describe(engine.target, sql), True)
            jsession = engine.session._jsparkSession
            frame = jsession.sql(sql)  # parses, analyses; runs DDL and other commands at once
            self._check_interrupted()
            if row_limit is not None:
                frame = frame.limit(row_limit)  # the limit runs inside Spark (CollectLimit)
            conf = jsession.sessionState().conf()
            zone = conf.sessionLocalTimeZone()
            large = bool(conf.arrowUseLargeVarTypes())
            per_batch = int(conf.arrowMaxRecordsPerBatch())
            jschema = frame.schema()
            columns = columns_of(_parse_datatype_json_string(jschema.json()))
            if row_limit is not None and row_limit <= COLLECT_LIMIT:
                # A bounded result: Spark's own LIMIT collection scans partitions a few at a time
                # (executeTake), where the streamed path would run every partition's local limit.
                rows = frame.queryExecution().executedPlan().executeCollect()
                self._check_interrupted()
                chunks = runtime.arrow_converters.toBatchWithSchemaIterator(
                    getattr(runtime.array_ops, "iterator$extension")(rows),
                    jschema,
                    per_batch,
                    COLLECT_BATCH_BYTES,
                    zone,
                    False,
                    large,
                )
                return CollectedResult(columns=columns, chunks=chunks, engine=engine.description)
            arrow = runtime.arrow_utils.toArrowSchema(
                jschema, zone, False, large, runtime.lossless_arrow_types
            )
            schema = pa.ipc.read_schema(pa.py_buffer(bytes(arrow.serializeAsMessage())))
            # Plans with shuffles (and adaptive execution) run their earlier stages here.
            batches = frame.toArrowBatchRdd(per_batch, zone, False, large)
            self._check_interrupted()
            partitions = int(batches.getNumPartitions())
            served = runtime.python_rdd.toLocalIteratorAndServe(batches, False)
            return ClassicResult(
                columns=columns,
                schema=schema,
                sock_info=served,
                partitions=partitions,
                on_abandon=lambda: engine.cancel(label),
                engine=engine.description,
            )
        except Exception as exc:
            raise query_error(exc, engine=engine.description) from None

    # -- Spark Connect -----------------------------------------------------------------------
    def _run_connect(self, sql: str, row_limit: int | None, label: str) -> ConnectResult:
        from pyspark.sql.connect.dataframe import DataFrame
        from pyspark.sql.connect.plan import SQL

        engine = cast("ConnectEngine", self.engine)  # mode "connect" is a ConnectEngine
        session = engine.session
        try:
            if session is None:
                raise RuntimeError("StatusCode.UNAVAILABLE: the Spark Connect session is closed")
            # Tags are per thread in the client: this worker thread's requests carry the slot's tag.
            session.addTag(label)
            frame: Any = DataFrame(SQL(sql), session)  # one ExecutePlan parses, analyses and runs it
            if row_limit is not None:
                frame = frame.limit(row_limit)
            client = session.client
            responses = client.to_table_as_iterator(frame._plan.to_proto(client), frame._plan.observations)
            # The first response arrives here: the operation carries the tag from now on.
            return ConnectResult(
                responses, on_abandon=lambda: engine.cancel(label), engine=engine.description
            )
        except Exception as exc:
            raise query_error(exc, engine=engine.description) from None
        finally:
            if session is not None:
                session.removeTag(label)

    def close(self) -> None:
        """Nothing to release: the session belongs to the engine."""


def _describe(target: str, sql: str) -> str:
    text = " ".join(sql.split())
    return f"floe {target}: {text[:200]}"
