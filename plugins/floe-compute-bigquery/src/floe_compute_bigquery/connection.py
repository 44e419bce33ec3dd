"""One pooled BigQuery connection: a client with its own HTTP session, and the jobs it runs.

A query is a job whose id the plugin chooses, so that a cancel can name it while ``jobs.insert``
is still in flight (emulators answer it only when the query has ended; real BigQuery at once,
with the job RUNNING). It is submitted once: ``retry=None`` for ``jobs.insert`` and
``job_retry=None`` (a retried insert or a re-run job would run the query twice, as dbt-bigquery's
did). Results stream page by page as Arrow record batches through ``to_arrow_iterable``, over
the Storage Read API only with the client the plugin configured (real BigQuery), never one the
library would create by itself.

Google modules are imported inside the functions that use them: importing the plugin must not
cost their start-up time (and ``NO_GCE_CHECK`` must be set first, see the package docstring).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from floe_tui.compute import (
    Column,
    ComputeError,
    ConnectionFailedError,
    ConnectTimeoutError,
    QueryCancelledError,
    QueryError,
    QueryStats,
    QueryTimeoutError,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("floe_compute_bigquery")

#: Rows per result page (BigQuery also caps a page at about 10 MB).
PAGE_ROWS = 20_000
#: How long one jobs.cancel request may take (it runs on the core's interrupt thread).
CANCEL_TIMEOUT_S = 2.0
#: Metadata calls while a job runs (jobs.get) and result pages: each request's own timeout.
READ_TIMEOUT_S = 60.0
#: Result pages are read again after a transient error, for at most this long in all.
READ_RETRY_S = 30.0
#: The engine-side backstop beyond the query timeout (DESIGN section 8: ceil(timeout) + 10 s).
BACKSTOP_S = 10
SCOPES = ("https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform")


@dataclass(frozen=True)
class JobSettings:
    """What every job of a target carries, from its `connection` and timeouts."""

    project: str
    dataset: str | None
    location: str | None
    maximum_bytes_billed: int | None
    priority: str
    api_endpoint: str | None
    #: The target's query timeout: the backstop of a run that names none.
    query_timeout_s: float
    #: Opening a connection and checking it (a metadata call), per request.
    check_timeout_s: float

    @classmethod
    def of(cls, connection: Any, query_timeout_s: float, connect_timeout_s: float) -> JobSettings:
        return cls(
            project=connection.project,
            dataset=connection.dataset,
            location=connection.location,
            maximum_bytes_billed=connection.maximum_bytes_billed,
            priority=connection.priority,
            api_endpoint=connection.api_endpoint,
            query_timeout_s=query_timeout_s,
            check_timeout_s=connect_timeout_s,
        )


def backstop_s(timeout_s: float) -> int:
    """BigQuery stops a job that runs longer (best effort), ceil(timeout) + 10 s; it is also
    jobs.insert's HTTP timeout, since emulators answer it only when the query has ended."""
    return math.ceil(timeout_s) + BACKSTOP_S


def new_client(settings: JobSettings, credentials: Any) -> Any:
    """A client with its own HTTP session; nothing is sent before the first call.

    Typed Any: the library's annotations refuse ``retry=None``, which its documentation gives as
    the way to send a request once.
    """
    from google.api_core import client_info
    from google.cloud import bigquery

    ClientInfo: Any = client_info.ClientInfo  # untyped in google-api-core

    from floe_compute_bigquery import __version__

    options = {"api_endpoint": settings.api_endpoint} if settings.api_endpoint else None
    return bigquery.Client(
        project=settings.project,
        credentials=credentials,
        location=settings.location,
        client_options=options,
        client_info=ClientInfo(user_agent=f"floe-tui/{__version__}"),
    )


class BigQuerySession:
    """One pooled connection: a client (one HTTP session) that runs one job at a time."""

    def __init__(self, settings: JobSettings, credentials: Any, storage: Any = None) -> None:
        self.settings = settings
        self.client: Any = new_client(settings, credentials)
        self.storage = storage
        self._lock = threading.Lock()
        self._job_id: str | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._cancel_sent = False

    # -- the query core's side -------------------------------------------------------------
    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> BigQueryResult:
        from google.cloud import bigquery

        settings = self.settings
        backstop = backstop_s(settings.query_timeout_s if timeout_s is None else timeout_s)
        job_id = f"floe_{uuid.uuid4().hex}"
        with self._lock:
            self._job_id, self._cancel_sent = job_id, False
            self._stopping.clear()
            self._wake.clear()
        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            priority=settings.priority.upper(),
            maximum_bytes_billed=settings.maximum_bytes_billed,
            job_timeout_ms=backstop * 1000,
        )
        if settings.dataset:
            config.default_dataset = f"{settings.project}.{settings.dataset}"
        log.debug("submitting query job %s", job_id)
        try:
            job = self.client.query(
                sql,
                job_config=config,
                job_id=job_id,
                location=settings.location,
                retry=None,  # never re-send jobs.insert: the job may already run
                timeout=backstop,
                job_retry=None,  # never re-run a failed job
            )
            self._wait(job)
            if job.error_result:
                raise job_error(job.error_result)
            page = PAGE_ROWS if row_limit is None else max(1, min(PAGE_ROWS, row_limit))
            rows = job.result(
                page_size=page,  # also makes the wait's getQueryResults bring the first page
                max_results=row_limit,
                retry=read_retry(),
                timeout=READ_TIMEOUT_S,
                job_retry=None,
            )
        except ComputeError:
            raise
        except Exception as exc:
            raise engine_error(exc, settings, timeout_s=backstop) from None
        # Storage Read serves whole results only; a limited read goes over REST (and the
        # library would warn about the combination).
        storage = self.storage if row_limit is None else None
        return BigQueryResult(job, rows, storage, settings)

    def _wait(self, job: Any) -> None:
        """Poll jobs.get until the job is DONE; after a stop, make sure the cancel was sent.

        Emulators answer jobs.insert with the job DONE, so this returns at once there.
        """
        pause = 0.02
        while not job.done(retry=read_retry(), timeout=READ_TIMEOUT_S):  # jobs.get: a read, retried
            if self._stopping.is_set():
                self._send_cancel()
                pause = 0.1  # BigQuery stops a cancelled job when it can: see it DONE soon after
            if self._wake.wait(pause):
                self._wake.clear()
            if not self._stopping.is_set():
                pause = min(pause * 2, 1.0)

    def interrupt(self) -> None:
        """Cancel the running job (jobs.cancel); the core calls this again until the run ends."""
        first = not self._stopping.is_set()
        self._stopping.set()
        if first:
            self._wake.set()
        self._send_cancel()

    def _send_cancel(self) -> None:
        from google.api_core.exceptions import NotFound

        with self._lock:  # claimed before it is sent: two threads never both send it
            job_id, sent = self._job_id, self._cancel_sent
            if job_id is None or sent:
                return
            self._cancel_sent = True
        try:
            self.client.cancel_job(
                job_id, location=self.settings.location, retry=None, timeout=CANCEL_TIMEOUT_S
            )
        except Exception as exc:  # not sent after all: the next interrupt tries again
            with self._lock:
                if self._job_id == job_id:
                    self._cancel_sent = False
            if not isinstance(exc, NotFound):  # NotFound: jobs.insert has not reached BigQuery yet
                raise

    # -- the pool's side -------------------------------------------------------------------
    def check(self) -> None:
        """A free API call: the dataset's metadata (or the first page of the datasets list).

        A dataset that does not exist yet (dbt creates it) still proves the API answers and
        accepts the credentials, so 404 passes.
        """
        from google.api_core.exceptions import NotFound

        settings = self.settings
        try:
            if settings.dataset:
                try:
                    self.client.get_dataset(
                        f"{settings.project}.{settings.dataset}", retry=None, timeout=settings.check_timeout_s
                    )
                except NotFound:
                    log.debug("the target's dataset does not exist yet; the API answered")
            else:
                pages = self.client.list_datasets(
                    max_results=1, retry=None, timeout=settings.check_timeout_s
                ).pages
                next(iter(pages), None)
        except Exception as exc:
            raise engine_error(exc, settings, checking=True) from None

    def close(self) -> None:
        self.client.close()


class BigQueryResult:
    """A finished job's rows, read page by page as Arrow record batches."""

    def __init__(self, job: Any, rows: Any, storage: Any, settings: JobSettings) -> None:
        self._job = job
        self._settings = settings
        self.columns = [Column(name=field.name, type=type_name(field)) for field in rows.schema]
        #: "storage": the Storage Read API is offered (the library takes it for results larger than
        #: the first page); "rest": getQueryResults pages only.
        self.read_api = "storage" if storage is not None else "rest"
        log.debug("query job %s: reading rows, read api %s", job.job_id, self.read_api)
        self._batches: Iterator[pa.RecordBatch] | None = iter(
            rows.to_arrow_iterable(bqstorage_client=storage)
        )

    def next_batch(self) -> pa.RecordBatch | None:
        if self._batches is None:
            return None
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = None
            return None
        except Exception as exc:
            raise engine_error(exc, self._settings, timeout_s=READ_TIMEOUT_S) from None

    def close(self) -> None:
        batches, self._batches = self._batches, None
        close = getattr(batches, "close", None)
        if callable(close):
            close()

    def stats(self) -> QueryStats:
        job = self._job
        return QueryStats(
            query_id=job.job_id,
            bytes_processed=job.total_bytes_processed,
            bytes_billed=job.total_bytes_billed,
        )


def type_name(field: Any) -> str:
    name = "STRUCT" if field.field_type in ("RECORD", "STRUCT") else str(field.field_type)
    return f"ARRAY<{name}>" if field.mode == "REPEATED" else name


@functools.cache
def read_retry() -> Any:
    """The client's retry of idempotent reads, bounded to READ_RETRY_S (its default is 10 minutes)."""
    from google.cloud.bigquery import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(READ_RETRY_S)


# -- errors --------------------------------------------------------------------------------
def job_error(error_result: dict[str, Any]) -> ComputeError:
    """The ComputeError of a job that ended with `errorResult` (the engine's message kept).

    BigQuery reports a job stopped by its own `jobTimeoutMs` as `stopped` with "Job execution was
    cancelled: Job timed out after ...": a timeout; any other `stopped` is a cancel (from this
    plugin, the console or someone else's `jobs.cancel`).
    """
    reason = str(error_result.get("reason") or "")
    message = _one_line(str(error_result.get("message") or reason or "the job failed"))
    if reason == "timeout" or (reason == "stopped" and "timed out" in message.lower()):
        return QueryTimeoutError(f"BigQuery stopped the job: {message}")
    if reason == "stopped":
        return QueryCancelledError(f"BigQuery stopped the job: {message}", "run it again if needed")
    if reason == "bytesBilledLimitExceeded":
        return QueryError(
            f"BigQuery: {message}",
            "raise connection.maximum_bytes_billed, or read fewer columns or partitions",
        )
    return QueryError(f"BigQuery: {message}")


def engine_error(
    exc: BaseException, settings: JobSettings, *, checking: bool = False, timeout_s: float | None = None
) -> ComputeError:
    """Map the client's exceptions to ComputeErrors; no configuration value and no secret in them."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    where = "the api_endpoint" if settings.api_endpoint else "the BigQuery API"
    if isinstance(exc, requests.exceptions.Timeout):
        seconds = settings.check_timeout_s if checking or timeout_s is None else timeout_s
        return ConnectTimeoutError(
            f"{where} did not answer within {seconds:g} s",
            "check that the server is up and reachable",
            breaks_connection=True,
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        refused = "refused" in str(exc).lower()
        return ConnectionFailedError(
            f"no connection to {where} ({'connection refused' if refused else 'connection lost'})",
            "start the server, or fix connection.api_endpoint"
            if settings.api_endpoint
            else "check the network path to BigQuery",
            breaks_connection=True,
        )
    if isinstance(exc, auth.RefreshError | auth.TransportError):
        return ConnectionFailedError(
            f"could not get an access token ({type(exc).__name__}: {_auth_reason(exc)})",
            "check the keyfile (its service account and token_uri) or the token",
            breaks_connection=True,
        )
    if isinstance(exc, api.Unauthorized):
        return ConnectionFailedError(
            f"BigQuery refused the credentials: {_one_line(exc.message)}",
            "renew the token, or check the service account's key",
        )
    if isinstance(exc, api.GoogleAPICallError):
        reason = _reason(exc)
        if reason == "stopped":
            return job_error({"reason": reason, "message": exc.message})
        hint = None
        if reason == "bytesBilledLimitExceeded":
            hint = "raise connection.maximum_bytes_billed, or read fewer columns or partitions"
        elif isinstance(exc, api.Forbidden):
            hint = "grant the credentials' principal access (roles/bigquery.jobUser, dataViewer)"
        return QueryError(f"BigQuery: {_one_line(exc.message)}", hint)
    if isinstance(exc, ComputeError):
        return exc
    return QueryError(f"BigQuery client error: {type(exc).__name__}: {_one_line(str(exc))}")


def _reason(exc: Any) -> str:
    try:
        return str(exc.errors[0]["reason"])
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""


def _auth_reason(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else ""
    return _one_line(first if isinstance(first, str) else type(exc).__name__)[:200]


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 500 else flat[:497] + "..."
