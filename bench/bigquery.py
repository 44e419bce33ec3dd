"""BigQuery plugin against the local crucible emulator: overhead next to the bare client, cancel.

Every figure is measured against one local server (crucible, DuckDB behind BigQuery's REST API,
started through the tests' cancel double) in one run, on loopback: they tell what the plugin adds
to google-cloud-bigquery, not what BigQuery costs. The bare client gets the plugin's credentials
and endpoint, so both ends talk to the same server the same way.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from bench import Row, Skip, benchmark, check, measured

SELECT_RUNS = 200
ROWS_RUNS = 5
CANCEL_RUNS = 5
ROWS_SQL = (
    "SELECT x AS i, CONCAT('row ', CAST(x AS STRING)) AS label, x * 2 AS twice "
    "FROM UNNEST(GENERATE_ARRAY(1, 100000)) AS x"
)
#: After a cancel, the emulator counts as stopped once it burns under this share of a core...
STOPPED_CORES = 0.1
#: ...over this long a window.
STOPPED_WINDOW_S = 0.5


@contextmanager
def _crucible() -> Iterator[tuple[Any, Any]]:
    """The emulator and a connected plugin with one pooled client on it."""
    try:
        from floe_compute_bigquery import BigQueryComputePlugin
        from floe_compute_bigquery.testing import create_dataset, crucible_server, local_target
        from floe_tui.testing import ServerError
    except ImportError as exc:
        raise Skip(f"the BigQuery plugin is not installed ({exc.name})") from None
    try:
        server = crucible_server()
        server.start()
    except ServerError as exc:
        raise Skip(f"crucible did not start: {exc}") from None
    try:
        create_dataset(server)
        plugin = BigQueryComputePlugin(local_target(server, pool={"size": 1}, query_timeout_s=300))
        with plugin:
            plugin.execute("SELECT 1").fetch_all()
            yield server, plugin
    finally:
        server.close()


def _bare_client(server: Any) -> Any:
    """google-cloud-bigquery as a user would open it, with the same kind of credentials."""
    import os

    from google.cloud import bigquery
    from google.oauth2 import credentials

    from floe_compute_bigquery.testing import PROJECT, TOKEN_ENV

    token_credentials: Any = credentials.Credentials
    return bigquery.Client(
        project=PROJECT,
        credentials=token_credentials(token=os.environ[TOKEN_ENV]),
        client_options={"api_endpoint": server.base_url},
    )


@benchmark("bigquery.select_one")
def select_one() -> list[Row]:
    """`SELECT 1`: plugin vs bare `query_and_wait` and vs the bare jobs.insert path, interleaved."""
    import uuid

    from google.cloud import bigquery

    from floe_compute_bigquery.testing import DATASET, PROJECT

    with _crucible() as (server, plugin):
        client = _bare_client(server)
        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            priority="INTERACTIVE",
            job_timeout_ms=310_000,
            default_dataset=f"{PROJECT}.{DATASET}",
        )
        plugin_s: list[float] = []
        wait_s: list[float] = []
        insert_s: list[float] = []
        try:
            for _ in range(SELECT_RUNS):
                started = time.perf_counter()
                plugin.execute("SELECT 1").fetch_all()
                plugin_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                list(client.query_and_wait("SELECT 1"))
                wait_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                # What the plugin sends, by hand: its own job id and job settings, jobs.insert
                # once, the first page.
                job = client.query(
                    "SELECT 1",
                    job_config=config,
                    job_id=f"bench_{uuid.uuid4().hex}",
                    retry=None,
                    job_retry=None,
                )
                for _batch in job.result(page_size=2, max_results=2, job_retry=None).to_arrow_iterable():
                    pass
                insert_s.append(time.perf_counter() - started)
        finally:
            client.close()
    p, w, i = (statistics.median(s) for s in (plugin_s, wait_s, insert_s))
    label = f"BigQuery (crucible) `SELECT 1`, median of {SELECT_RUNS}"
    return [
        measured(f"{label}, plugin", p * 1000, "ms"),
        measured(f"{label}, bare `client.query_and_wait` (jobs.query: 1 request)", w * 1000, "ms"),
        measured(f"{label}, plugin / bare `query_and_wait`", p / w, "x", below=1.2),
        measured(
            f"{label}, bare jobs.insert with a job id + first page (the plugin's requests)", i * 1000, "ms"
        ),
        measured(f"{label}, plugin / bare jobs.insert path", p / i, "x", below=1.2),
    ]


@benchmark("bigquery.rows_100k")
def rows_100k() -> list[Row]:
    """100,000 rows x 3 columns: first batch and last, plugin vs bare `to_arrow_iterable()`."""
    with _crucible() as (server, plugin):
        client = _bare_client(server)
        plugin_first: list[float] = []
        plugin_total: list[float] = []
        bare_first: list[float] = []
        bare_total: list[float] = []
        rows_ok = 0
        try:
            for _ in range(ROWS_RUNS):
                started = time.perf_counter()
                first = None
                count = 0
                for batch in plugin.execute(ROWS_SQL, timeout=120).batches():
                    first = first or time.perf_counter() - started
                    count += batch.num_rows
                plugin_total.append(time.perf_counter() - started)
                plugin_first.append(first or plugin_total[-1])
                rows_ok += count == 100_000
                started = time.perf_counter()
                first = None
                count = 0
                rows = client.query(ROWS_SQL, job_retry=None).result()
                for batch in rows.to_arrow_iterable(bqstorage_client=None):
                    first = first or time.perf_counter() - started
                    count += batch.num_rows
                bare_total.append(time.perf_counter() - started)
                bare_first.append(first or bare_total[-1])
                rows_ok += count == 100_000
        finally:
            client.close()
    pf, pt, bf, bt = (statistics.median(s) for s in (plugin_first, plugin_total, bare_first, bare_total))
    label = f"BigQuery (crucible) 100,000 rows x 3 columns, median of {ROWS_RUNS}"
    return [
        measured(f"{label}, plugin first batch", pf * 1000, "ms"),
        measured(f"{label}, bare `to_arrow_iterable()` first batch (one page of all rows)", bf * 1000, "ms"),
        measured(f"{label}, plugin total", pt * 1000, "ms"),
        measured(f"{label}, bare total", bt * 1000, "ms"),
        measured(f"{label}, plugin / bare total", pt / bt, "x", below=1.1),
        check("BigQuery (crucible) 100,000-row reads that returned every row", rows_ok, 2 * ROWS_RUNS),
    ]


def _stopped_after(process: psutil.Process, since: float, deadline_s: float = 5.0) -> float:
    """Seconds from `since` until the process's CPU stays under STOPPED_CORES for a whole window."""
    samples: list[tuple[float, float]] = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        times = process.cpu_times()
        samples.append((time.monotonic(), times.user + times.system))
        # The earliest sample from which the next full window used under the threshold.
        for index, (at, cpu) in enumerate(samples):
            later = [s for s in samples[index:] if s[0] - at >= STOPPED_WINDOW_S]
            if later:
                when, used = later[0]
                if (used - cpu) / (when - at) < STOPPED_CORES:
                    return max(0.0, at - since)
            else:
                break
        time.sleep(0.005)  # a sampling interval, not a wait for a state
    return float("inf")


@benchmark("bigquery.cancel")
def cancel() -> list[Row]:
    """cancel() until the emulator's CPU falls under 10% of a core, and until `cancelled`."""
    from floe_compute_bigquery.testing import LONG_RUNNING_SQL, wait_until_computing
    from floe_tui.compute import QueryOutcome

    with _crucible() as (server, plugin):
        process = psutil.Process(server.pid)
        stopped: list[float] = []
        settled: list[float] = []
        confirmed = 0
        for _ in range(CANCEL_RUNS):
            handle = plugin.execute(LONG_RUNNING_SQL, timeout=120)
            if not wait_until_computing(server):
                raise RuntimeError("the long query did not keep the emulator busy")
            asked = time.monotonic()
            handle.cancel()
            outcome = handle.wait(10)
            settled.append(time.monotonic() - asked)
            confirmed += outcome is QueryOutcome.CANCELLED and handle.stop_confirmed is True
            stopped.append(_stopped_after(process, asked))
    label = f"BigQuery (crucible + cancel double) cancel, {CANCEL_RUNS} runs"
    return [
        measured(
            f"{label}: until the emulator burns < 10% of a core, median", statistics.median(stopped), "s"
        ),
        measured(f"{label}: until the emulator burns < 10% of a core, max", max(stopped), "s", below=1.0),
        measured(f"{label}: until the outcome is `cancelled`, max", max(settled) * 1000, "ms"),
        check(f"{label}: cancelled with the stop confirmed by the engine", confirmed, CANCEL_RUNS),
    ]
