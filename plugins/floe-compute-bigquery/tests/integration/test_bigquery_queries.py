"""Queries through the plugin, read back from the emulator's own job records.

The job the plugin sends is looked up with a bare client (`jobs.get`): its id is the plugin's,
and its configuration carries the timeout backstop, the bytes cap, the priority and the dataset.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import TOKEN_ENV
from floe_tui.compute import ComputeConfig, QueryOutcome

Open = Callable[[ComputeConfig], BigQueryComputePlugin]


def test_the_job_carries_the_plugin_id_and_the_target_settings(
    bq_target: Callable[..., ComputeConfig], open_plugin: Open, inspect_client: Any
) -> None:
    config = bq_target(
        connection={"maximum_bytes_billed": "5GB", "priority": "batch", "location": "US"},
        query_timeout_s=42.2,
    )
    plugin = open_plugin(config)
    handle = plugin.execute("SELECT 1 AS one")  # the target's query_timeout_s
    assert handle.fetch_all().to_pylist() == [{"one": 1}]
    timed = plugin.execute("SELECT 2 AS two", timeout=7.5)  # a timeout of its own
    assert timed.fetch_all().num_rows == 1 and timed.stats is not None
    assert int(inspect_client.get_job(timed.stats.query_id).configuration.job_timeout_ms) == (8 + 10) * 1000
    stats = handle.stats
    assert stats is not None and stats.query_id is not None and stats.query_id.startswith("floe_")
    # The emulator has no cost model: it reports 0 bytes, and the figures reach the handle.
    assert stats.bytes_processed == 0 and stats.bytes_billed == 0
    job = inspect_client.get_job(stats.query_id, location="US")
    assert job.job_id == stats.query_id and job.state == "DONE"
    assert int(job.configuration.job_timeout_ms) == (math.ceil(42.2) + 10) * 1000
    assert job.maximum_bytes_billed == 5_000_000_000 and job.priority == "BATCH"
    assert job.default_dataset.dataset_id == "floe_test" and job.use_legacy_sql is False


def test_each_query_gets_its_own_job(bq_target: Callable[..., ComputeConfig], open_plugin: Open) -> None:
    plugin = open_plugin(bq_target())
    ids = set()
    for _ in range(3):
        handle = plugin.execute("SELECT 1")
        handle.fetch_all()
        assert handle.stats is not None
        ids.add(handle.stats.query_id)
    assert len(ids) == 3


def test_types_columns_and_unqualified_tables(
    bq_target: Callable[..., ComputeConfig], open_plugin: Open
) -> None:
    plugin = open_plugin(bq_target())
    ddl = plugin.execute(
        "CREATE OR REPLACE TABLE typed AS SELECT 1 AS i, 2.5 AS f, 'x' AS s, TRUE AS b, [1, 2] AS a"
    )
    ddl.fetch_all()
    assert ddl.outcome is QueryOutcome.COMPLETED and ddl.rows == 0
    handle = plugin.execute("SELECT * FROM typed")  # the target's dataset is the default dataset
    table = handle.fetch_all()
    assert [(c.name, c.type) for c in handle.columns] == [
        ("i", "INTEGER"),
        ("f", "FLOAT"),
        ("s", "STRING"),
        ("b", "BOOLEAN"),
        ("a", "ARRAY<INTEGER>"),
    ]
    assert table.to_pylist() == [{"i": 1, "f": 2.5, "s": "x", "b": True, "a": [1, 2]}]


def test_a_large_result_streams_in_pages_under_the_limit(
    bq_target: Callable[..., ComputeConfig], open_plugin: Open
) -> None:
    plugin = open_plugin(bq_target())
    handle = plugin.execute("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 50000)) AS x", timeout=60)
    sizes = [batch.num_rows for batch in handle.batches()]
    assert sum(sizes) == 50_000 and len(sizes) >= 3, "pages of at most 20,000 rows"
    limited = plugin.execute("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 50000)) AS x", limit=25_000)
    assert limited.fetch_all().num_rows == 25_000 and limited.truncated


def test_sql_errors_keep_the_engines_message(
    bq_target: Callable[..., ComputeConfig], open_plugin: Open
) -> None:
    plugin = open_plugin(bq_target())
    handle = plugin.execute("SELECT FROM WHERE")
    assert handle.wait(30) is QueryOutcome.FAILED
    assert handle.error is not None and handle.error.code == "FLOE-C400"
    assert handle.error.message.startswith("BigQuery: Syntax error") and handle.error.hint
    missing = plugin.execute("SELECT * FROM no_such_table")
    assert missing.wait(30) is QueryOutcome.FAILED
    assert missing.error is not None and "no_such_table" in missing.error.message
    assert plugin.execute("SELECT 2 AS two").fetch_all().to_pylist() == [{"two": 2}]
    assert plugin.pool_stats().reconnects == 0, "an SQL error does not retire the connection"


class _RecordingApi(BaseHTTPRequestHandler):
    """A stand-in BigQuery API on loopback that records each request: dataset and list calls
    answer as BigQuery does, and every jobs.insert gets 503 backendError (a retryable reason)."""

    requests: list[tuple[str, str]]

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.requests.append(("POST", self.path.split("?")[0]))
        error = b'{"error": {"code": 503, "message": "backend error", "errors": [{"reason": "backendError", '
        self._answer(503, error + b'"message": "backend error"}], "status": "UNAVAILABLE"}}')

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.requests.append(("GET", path))
        if path.endswith("/datasets"):
            self._answer(200, b'{"kind": "bigquery#datasetList"}')
        else:
            self._answer(
                200,
                b'{"kind": "bigquery#dataset", "datasetReference": {"projectId": "floe-test", '
                b'"datasetId": "floe_test"}, "location": "US"}',
            )

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def recording_api() -> Any:
    """`(requests, config_of(dataset=...))`: the stand-in API, and targets on it."""
    handler = type("Handler", (_RecordingApi,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="recording-api", daemon=True)
    thread.start()

    def config_of(**connection: Any) -> ComputeConfig:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        return ComputeConfig.from_mapping(
            {
                "name": "recorded",
                "connection": {"project": "floe-test", "api_endpoint": endpoint, **connection},
                "credentials": {"token": {"env": TOKEN_ENV}},
            }
        )

    yield handler.requests, config_of
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_health_is_one_metadata_call_never_a_job(recording_api: Any, open_plugin: Open) -> None:
    requests, config_of = recording_api
    for connection, call in (({"dataset": "floe_test"}, "/datasets/floe_test"), ({}, "/datasets")):
        plugin = open_plugin(config_of(**connection))
        for _ in range(2):  # the second right after the first: a poll always asks the server
            requests.clear()
            status = plugin.health_check(timeout=10)
            assert status.status.value == "healthy", status.message
            assert requests == [("GET", f"/bigquery/v2/projects/floe-test{call}")]
    assert plugin.memory_stats() is None


def test_a_connection_that_just_answered_is_lent_without_a_check(
    recording_api: Any, open_plugin: Open
) -> None:
    requests, config_of = recording_api
    plugin = open_plugin(config_of(dataset="floe_test"))  # connect() checked the connection
    requests.clear()
    plugin.execute("SELECT 1", timeout=30).wait(30)
    assert requests == [("POST", "/bigquery/v2/projects/floe-test/jobs")], "no check request"
    time.sleep(BigQueryComputePlugin.check_after_idle_s)  # the window passes (a fixed window, not a guess)
    requests.clear()
    plugin.execute("SELECT 1", timeout=30).wait(30)
    assert requests[0] == ("GET", "/bigquery/v2/projects/floe-test/datasets/floe_test")


def test_jobs_insert_is_sent_once_even_on_a_retryable_error(recording_api: Any, open_plugin: Open) -> None:
    """The client's default retry would send jobs.insert again on 503; a re-sent job may run twice."""
    requests, config_of = recording_api
    plugin = open_plugin(config_of(dataset="floe_test"))
    requests.clear()
    handle = plugin.execute("SELECT 1", timeout=30)
    assert handle.wait(30) is QueryOutcome.FAILED
    assert handle.error is not None and "backend error" in handle.error.message
    assert [r for r in requests if r[0] == "POST"] == [("POST", "/bigquery/v2/projects/floe-test/jobs")]
