"""Query runs on a real in-memory DuckDB: growing pages, every outcome, ids and late results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from floe_tui.compute import ComputeError, ComputePlugin
from floe_tui.console.events import EventLog
from floe_tui.console.history import QueryHistory
from floe_tui.console.queries import (
    FIRST_PAGE_ROWS,
    MAX_PAGE_ROWS,
    Finished,
    Page,
    QueryRun,
    QueryRuns,
    stream,
)
from floe_tui.governance import Plan

ENDLESS = "SELECT count(*) FROM range(10000000000) a"
NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def duckdb(compiled: Plan) -> Iterator[ComputePlugin]:
    registry = compiled.registry("dev")
    yield registry.get("duckdb")
    registry.close()


def run_of(sql: str, *, limit: int | None = None, timeout_s: float = 30.0, run_id: int = 1) -> QueryRun:
    return QueryRun(run_id, "duckdb", sql, limit, timeout_s, started=0.0)


def collect(run: QueryRun, plugin: Any) -> tuple[list[Page], Finished]:
    items = list(stream(run, plugin))
    *pages, finished = items
    assert all(isinstance(p, Page) for p in pages) and isinstance(finished, Finished)
    return [p for p in pages if isinstance(p, Page)], finished


def test_rows_stream_in_and_end_completed(duckdb: ComputePlugin) -> None:
    pages, finished = collect(run_of("SELECT * FROM range(300000) t(n)"), duckdb)
    assert sum(page.table.num_rows for page in pages) == finished.rows == 300_000
    assert finished.outcome == "completed" and finished.message is None and finished.error is None
    assert pages[0].columns == finished.columns and [name for name, _ in finished.columns] == ["n"]
    assert not finished.truncated


class ScriptedHandle:
    """A query handle that delivers `batches` batches of `rows` rows (DuckDB's are 65,536 rows:
    too big to show how pages grow)."""

    def __init__(self, batches: int, rows: int) -> None:
        import pyarrow as pa

        self._batches = [pa.record_batch({"n": list(range(rows))}) for _ in range(batches)]
        self.columns = [type("Column", (), {"name": "n", "type": "BIGINT"})()]
        self.rows = batches * rows
        self.truncated = False
        self.elapsed_s = 0.01
        self.error = None
        self.stop_confirmed = None
        self.outcome = type("Outcome", (), {"value": "completed"})()

    def batches(self) -> Iterator[Any]:
        yield from self._batches


class ScriptedEngine:
    def __init__(self, handle: ScriptedHandle) -> None:
        self.handle = handle

    def connect(self) -> None:
        pass

    def execute(self, sql: str, *, timeout: float, limit: int | None) -> ScriptedHandle:
        return self.handle


def test_pages_start_small_and_grow_fourfold_to_their_ceiling() -> None:
    pages, finished = collect(run_of("SELECT n"), ScriptedEngine(ScriptedHandle(batches=2000, rows=100)))
    sizes = [page.table.num_rows for page in pages]
    assert sizes[:5] == [FIRST_PAGE_ROWS, 4 * FIRST_PAGE_ROWS, 16 * FIRST_PAGE_ROWS, 32_000, MAX_PAGE_ROWS]
    assert set(sizes[4:-1]) == {MAX_PAGE_ROWS} and sum(sizes) == 200_000 == finished.rows


def test_a_slow_result_leaves_a_page_every_quarter_second_whatever_its_size() -> None:
    ticks = iter(i * 0.3 for i in range(1000))  # each batch comes 0.3 s after the one before
    run = run_of("SELECT n")
    items = list(stream(run, ScriptedEngine(ScriptedHandle(batches=4, rows=10)), clock=lambda: next(ticks)))
    assert [item.table.num_rows for item in items if isinstance(item, Page)] == [10, 10, 10, 10]


def test_the_row_limit_is_hard_and_says_there_was_more(duckdb: ComputePlugin) -> None:
    pages, finished = collect(run_of("SELECT * FROM range(100000) t(n)", limit=1000), duckdb)
    assert sum(p.table.num_rows for p in pages) == finished.rows == 1000 and finished.truncated


def test_an_empty_result_completes_with_its_columns(duckdb: ComputePlugin) -> None:
    pages, finished = collect(run_of("SELECT 1 AS one WHERE false"), duckdb)
    assert sum(p.table.num_rows for p in pages) == 0 and finished.outcome == "completed"
    assert [name for name, _ in finished.columns] == ["one"]


def test_an_engine_error_fails_with_its_message_and_the_error_itself(duckdb: ComputePlugin) -> None:
    pages, finished = collect(run_of("SELEC 1"), duckdb)
    assert pages == [] and finished.outcome == "failed"
    assert isinstance(finished.error, ComputeError) and finished.message is not None
    assert finished.message.startswith(f"{finished.error.code}: ") and "(hint: " in finished.message


def test_a_query_past_its_timeout_is_timed_out_in_the_engine(duckdb: ComputePlugin) -> None:
    run = run_of(ENDLESS, timeout_s=0.3)
    _, finished = collect(run, duckdb)
    assert finished.outcome == "timed_out" and finished.message == "query timed out after 0.3 s"
    assert run.handle is not None and run.handle.outcome.value == "timed_out"


def test_a_cancel_asked_before_the_engine_runs_it_runs_nothing(duckdb: ComputePlugin) -> None:
    run = run_of(ENDLESS)
    run.cancel_requested = True
    _, finished = collect(run, duckdb)
    assert finished.outcome == "cancelled" and run.handle is None and finished.rows == 0


class BrokenEngine:
    """An engine whose own start fails with something other than a ComputeError."""

    def connect(self) -> None:
        raise RuntimeError("the driver's own failure")


def test_an_engine_that_fails_to_start_with_its_own_exception_fails_in_words() -> None:
    _, finished = collect(run_of("SELECT 1"), BrokenEngine())
    assert finished.outcome == "failed" and finished.error is None
    assert finished.message == "RuntimeError: the driver's own failure"


# -- the query pane's runs ---------------------------------------------------------------------
@pytest.fixture
def runs(tmp_path: Path) -> QueryRuns:
    ticks = iter(range(1000))
    return QueryRuns(
        QueryHistory(tmp_path), EventLog(lambda: NOW), clock=lambda: NOW, monotonic=lambda: float(next(ticks))
    )


def test_each_run_has_an_id_and_a_late_page_or_outcome_of_a_replaced_run_is_dropped(
    runs: QueryRuns, duckdb: ComputePlugin
) -> None:
    first = runs.start("duckdb", "SELECT 1 AS one", limit=10, timeout_s=5)
    items = list(stream(first, duckdb))
    second = runs.start("duckdb", "SELECT 2 AS two", limit=10, timeout_s=5)
    assert (first.id, second.id) == (1, 2) and runs.current is second
    assert first.done and first.cancel_requested  # superseded: dropped, no outcome of its own
    for item in items:  # run 1's results arrive late
        assert (runs.page(item) if isinstance(item, Page) else runs.finish(item)) is None
    assert second.rows == 0 and not second.done
    for item in stream(second, duckdb):
        assert (runs.page(item) if isinstance(item, Page) else runs.finish(item)) is second
    assert second.done and second.outcome == "completed" and second.rows == 1 and len(second.pages) == 1
    assert [e.sql for e in runs.history.entries] == ["SELECT 1 AS one", "SELECT 2 AS two"]
    assert runs.history.entries[-1].outcome == "completed" and len(runs.events) == 0  # completed: no log


def test_outcomes_other_than_completed_go_to_the_event_log(runs: QueryRuns, duckdb: ComputePlugin) -> None:
    run = runs.start("duckdb", "SELEC 1", limit=10, timeout_s=5)
    for item in stream(run, duckdb):
        if isinstance(item, Finished):
            runs.finish(item)
    (line,) = list(runs.events)
    assert (line.source, line.kind) == ("query", "failed") and line.message.startswith(
        "run 1 on duckdb after "
    )
    assert "FLOE-C" in line.message and run.error is not None


def test_cancel_before_the_engine_runs_ends_at_once_and_after_it_asks_the_engine(
    runs: QueryRuns, duckdb: ComputePlugin, wait: Any
) -> None:
    run = runs.start("duckdb", ENDLESS, limit=10, timeout_s=30)
    assert runs.cancel() is True  # still connecting: the caller ends it as cancelled now
    runs.end(run, "cancelled", None)
    assert run.done and runs.cancel() is False
    assert list(runs.events)[-1].kind == "cancelled"

    running = runs.start("duckdb", ENDLESS, limit=10, timeout_s=30)
    items: list[Page | Finished] = []
    worker = threading.Thread(target=lambda: items.extend(stream(running, duckdb)))
    worker.start()
    wait(lambda: running.handle is not None and running.handle.wait_started(0), what="the query to run")
    assert runs.cancel() is False and running.cancel_requested  # in the engine: it answers by outcome
    worker.join(10)
    finished = items[-1]
    assert isinstance(finished, Finished) and finished.outcome == "cancelled"
    assert runs.finish(finished) is running and running.outcome == "cancelled"


def test_the_summary_says_what_the_engine_reported_and_nothing_when_it_reported_nothing() -> None:
    from floe_tui.compute import QueryStats
    from floe_tui.console.queries import stats_summary

    stats = QueryStats(query_id="floe_1f2e", bytes_processed=10_485_760, bytes_billed=10_485_760)
    assert stats_summary(stats) == "10,485,760 bytes processed, 10,485,760 bytes billed, query floe_1f2e"
    assert stats_summary(QueryStats(query_id="q1")) == "query q1"
    assert stats_summary(None) == "" and stats_summary(QueryStats()) == ""
