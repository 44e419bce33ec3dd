"""Jobs that are still RUNNING when jobs.insert answers, as on real BigQuery.

Both emulators answer jobs.insert only when the query has ended, so the plugin's polling of
jobs.get and a cancel of a job BigQuery reports RUNNING never happen against them. This loopback
stand-in of the jobs API (a test double of the REST resources the client reads, in the shapes of
BigQuery's REST reference) answers jobs.insert with the job RUNNING, reports it DONE after a few
jobs.get calls, and after jobs.cancel reports it DONE with `stopped`, as BigQuery does. The real
google-cloud-bigquery client talks to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import TOKEN_ENV
from floe_tui.compute import ComputeConfig, QueryOutcome

Open = Callable[[ComputeConfig], BigQueryComputePlugin]
PROJECT = "floe-test"


class _JobsApi(BaseHTTPRequestHandler):
    """BigQuery's jobs resources on loopback: a job is RUNNING for `polls` jobs.get calls."""

    requests: list[tuple[str, str]]
    jobs: dict[str, dict[str, Any]]
    polls: int
    lock: threading.Lock

    def _answer(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _resource(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        resource: dict[str, Any] = {
            "kind": "bigquery#job",
            "id": f"{PROJECT}:US.{job_id}",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "configuration": {"jobType": "QUERY", "query": {"query": job["query"], "useLegacySql": False}},
            "statistics": {"creationTime": "1764580000000"},
            "status": {"state": "DONE" if job["done"] else "RUNNING"},
        }
        if job["done"]:
            resource["statistics"]["query"] = {
                "totalBytesProcessed": "1048576",
                "totalBytesBilled": "10485760",
                "statementType": "SELECT",
            }
        if job["cancelled"]:
            stopped = {
                "reason": "stopped",
                "message": "Job execution was cancelled: User requested cancellation",
            }
            resource["status"] = {"state": "DONE", "errorResult": stopped, "errors": [stopped]}
        return resource

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.lock:
            self.requests.append(("POST", path))
            if path.endswith("/cancel"):
                job_id = path.split("/")[-2]
                self.jobs[job_id]["cancelled"] = True
                self._answer({"kind": "bigquery#jobCancelResponse", "job": self._resource(job_id)})
                return
            job_id = body["jobReference"]["jobId"]
            query = body["configuration"]["query"]["query"]
            self.jobs[job_id] = {"query": query, "polls": 0, "done": False, "cancelled": False}
            self._answer(self._resource(job_id))

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        with self.lock:
            self.requests.append(("GET", path))
            kind, job_id = path.split("/")[-2:]
            if kind == "datasets" or path.endswith("/datasets"):
                self._answer({"kind": "bigquery#datasetList"})
            elif kind == "jobs":
                job = self.jobs[job_id]
                job["polls"] += 1
                job["done"] = job["done"] or (job["polls"] >= self.polls and not job["cancelled"])
                self._answer(self._resource(job_id))
            else:  # getQueryResults of a finished job
                self._answer(
                    {
                        "kind": "bigquery#getQueryResultsResponse",
                        "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
                        "schema": {"fields": [{"name": "n", "type": "INTEGER", "mode": "NULLABLE"}]},
                        "totalRows": "1",
                        "rows": [{"f": [{"v": "42"}]}],
                        "jobComplete": True,
                    }
                )

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def jobs_api() -> Iterator[Callable[[int], tuple[Any, ComputeConfig]]]:
    """`jobs_api(polls)`: the stand-in (its handler class: requests, jobs) and a target on it."""
    servers: list[ThreadingHTTPServer] = []

    def start(polls: int) -> tuple[Any, ComputeConfig]:
        handler = type(
            "Handler", (_JobsApi,), {"requests": [], "jobs": {}, "polls": polls, "lock": threading.Lock()}
        )
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        config = ComputeConfig.from_mapping(
            {
                "name": "running",
                "connection": {
                    "project": PROJECT,
                    "api_endpoint": f"http://127.0.0.1:{server.server_address[1]}",
                },
                "credentials": {"token": {"env": TOKEN_ENV}},
            }
        )
        return handler, config

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_running_job_is_polled_until_done(jobs_api: Any, open_plugin: Open) -> None:
    api, config = jobs_api(3)
    plugin = open_plugin(config)
    handle = plugin.execute("SELECT 42 AS n", timeout=30)
    assert handle.fetch_all().to_pylist() == [{"n": 42}]
    assert handle.stats is not None and handle.stats.query_id in api.jobs
    assert (handle.stats.bytes_processed, handle.stats.bytes_billed) == (1_048_576, 10_485_760)
    job_id = handle.stats.query_id
    assert api.requests.count(("POST", f"/bigquery/v2/projects/{PROJECT}/jobs")) == 1
    assert api.requests.count(("GET", f"/bigquery/v2/projects/{PROJECT}/jobs/{job_id}")) == 3
    assert ("GET", f"/bigquery/v2/projects/{PROJECT}/queries/{job_id}") in api.requests


def test_cancel_of_a_running_job_waits_for_bigquery_to_report_it_stopped(
    jobs_api: Any, open_plugin: Open
) -> None:
    api, config = jobs_api(10**9)  # runs until it is cancelled
    plugin = open_plugin(config)
    handle = plugin.execute("SELECT 42 AS n", timeout=60)
    assert handle.wait_started(10)
    deadline = time.monotonic() + 10
    while not api.jobs and time.monotonic() < deadline:
        time.sleep(0.01)  # polling interval of a condition with a deadline
    (job_id,) = api.jobs
    asked = time.monotonic()
    handle.cancel()
    assert handle.wait(5) is QueryOutcome.CANCELLED
    assert time.monotonic() - asked < 1.0 and handle.stop_confirmed is True
    cancels = [r for r in api.requests if r[0] == "POST" and r[1].endswith("/cancel")]
    assert cancels == [("POST", f"/bigquery/v2/projects/{PROJECT}/jobs/{job_id}/cancel")], "sent once"
    assert api.jobs[job_id]["cancelled"]
