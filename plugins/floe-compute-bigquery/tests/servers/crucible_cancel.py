"""TEST DOUBLE: crucible with a `jobs.cancel` that really stops the query. Test code, never shipped.

crucible-emulator 0.1.0a2 runs every query job to completion inside the `jobs.insert` request and
answers `jobs.cancel` without stopping anything (its DuckDB keeps computing). Real BigQuery stops a
cancelled job (best effort) and reports it DONE with ``errorResult.reason == "stopped"``. This
wrapper makes the emulator do the same, so "the engine stops" can be checked on the emulator
process's own CPU (DESIGN section 8). It patches five crucible internals before starting the same
server `crucible serve --dialect bigquery` starts:

- ``Runner.run_query`` notes which job the current thread runs;
- ``Engine.cursor`` records the DuckDB cursors opened for that job;
- ``BigQueryServer.jobs_cancel`` marks the job cancelled and calls ``interrupt()`` on its cursors,
  again every 10 ms until the job has ended (DuckDB drops an interrupt that precedes a statement);
- ``JobStore.finished`` publishes a cancelled job with BigQuery's ``stopped`` error. The message
  is modelled on BigQuery's wording, not checked against the service;
- ``BigQueryServer.routes`` adds ``GET /_floe/cancels``: the job ids ``jobs.cancel`` named and
  how many running DuckDB statements each cancel interrupted, for the tests to read back.

It checks that every internal it patches exists with the shape it expects, and exits with status 3
and a message naming what changed otherwise: a crucible upgrade must fail the tests loudly, not
leave cancel silently fake. Run it with the crucible venv's Python::

    .venv-servers/crucible/bin/python crucible_cancel.py --host 127.0.0.1 --port 19150
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

PINNED = "0.1.0a2"
STOPPED = {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"}


def fail(what: str) -> None:
    print(
        f"crucible_cancel: {what}; this wrapper was written for crucible-emulator=={PINNED}", file=sys.stderr
    )
    raise SystemExit(3)


def check_internals() -> dict[str, Any]:
    """The crucible objects the wrapper patches, after checking they look as expected."""
    from importlib.metadata import version

    try:
        from crucible.engine.engine import Engine
        from crucible.server.bigquery import app as bigquery_app
        from crucible.server.bigquery.jobs import Job, JobStore, Runner
    except ImportError as exc:
        fail(f"a patched module is gone ({exc})")
    if version("crucible-emulator") != PINNED:
        fail(f"crucible-emulator is {version('crucible-emulator')}")
    expected = {
        "Engine.cursor": (Engine, "cursor", ["self", "session"]),
        "Runner.run_query": (Runner, "run_query", ["self", "job"]),
        "JobStore.finished": (JobStore, "finished", ["self", "pending", "completed"]),
        "BigQueryServer.jobs_cancel": (bigquery_app.BigQueryServer, "jobs_cancel", ["self", "request"]),
        "BigQueryServer.routes": (bigquery_app.BigQueryServer, "routes", ["self"]),
    }
    for name, (owner, attribute, parameters) in expected.items():
        function = getattr(owner, attribute, None)
        if function is None:
            fail(f"{name} does not exist")
        target = inspect.unwrap(function)
        if list(inspect.signature(target).parameters) != parameters:
            fail(f"{name} no longer takes ({', '.join(parameters)})")
    fields = {f.name for f in dataclasses.fields(Job)}
    for needed in ("project", "job_id", "error", "errors", "error_kind"):
        if needed not in fields:
            fail(f"Job has no field {needed!r}")
    if not inspect.iscoroutinefunction(bigquery_app.BigQueryServer.jobs_cancel):
        fail("BigQueryServer.jobs_cancel is no longer a coroutine")
    return {
        "Engine": Engine,
        "Runner": Runner,
        "JobStore": JobStore,
        "BigQueryServer": bigquery_app.BigQueryServer,
    }


class Cancels:
    """Which thread runs which job, each job's open cursors, and the jobs asked to stop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.cursors: dict[tuple[str, str], list[Any]] = {}
        self.cancelled: set[tuple[str, str]] = set()
        self.ended: set[tuple[str, str]] = set()
        #: Every jobs.cancel in order: project, job id, statements it interrupted.
        self.log: list[dict[str, Any]] = []

    def interrupt(self, key: tuple[str, str]) -> int:
        """Mark the job cancelled and interrupt its statements; keep at it while the job runs.

        DuckDB drops an interrupt that arrives before a statement starts, and a job runs several
        (its catalog lookups, then the query): a cancelled BigQuery job stays cancelled, so the
        wrapper interrupts again every 10 ms until the job has ended (at most 30 s).
        """
        with self.lock:
            first = key not in self.cancelled
            self.cancelled.add(key)
        interrupted = self._interrupt_once(key)
        with self.lock:
            self.log.append({"project": key[0], "job_id": key[1], "interrupted": interrupted})
        if first:
            threading.Thread(target=self._keep_interrupting, args=(key,), daemon=True).start()
        return interrupted

    def _interrupt_once(self, key: tuple[str, str]) -> int:
        with self.lock:
            cursors = list(self.cursors.get(key, ()))
        for cursor in cursors:
            with contextlib.suppress(Exception):  # a cursor closing at this moment has nothing to stop
                cursor.interrupt()
        return len(cursors)

    def _keep_interrupting(self, key: tuple[str, str]) -> None:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            with self.lock:
                if key in self.ended:
                    return
            self._interrupt_once(key)
            time.sleep(0.01)  # the interval of a bounded retry loop, not a wait for a state


def install(parts: dict[str, Any], cancels: Cancels) -> None:
    from crucible.engine import ErrorKind
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    engine_cls, runner_cls, store_cls, server_cls = (
        parts["Engine"],
        parts["Runner"],
        parts["JobStore"],
        parts["BigQueryServer"],
    )
    original_cursor = engine_cls.cursor
    original_run_query = runner_cls.run_query
    original_finished = store_cls.finished
    original_cancel = server_cls.jobs_cancel
    original_routes = server_cls.routes

    def run_query(self: Any, job: Any) -> Any:
        cancels.local.job = (job.project, job.job_id)
        try:
            return original_run_query(self, job)
        finally:
            cancels.local.job = None
            with cancels.lock:
                cancels.cursors.pop((job.project, job.job_id), None)
                cancels.ended.add((job.project, job.job_id))

    @contextlib.contextmanager
    def cursor(self: Any, session: Any) -> Iterator[Any]:
        with original_cursor(self, session) as opened:
            key = getattr(cancels.local, "job", None)
            if key is None:  # a metadata request (datasets, tables): not a job
                yield opened
                return
            with cancels.lock:
                cancels.cursors.setdefault(key, []).append(opened)
            try:
                yield opened
            finally:
                with cancels.lock, contextlib.suppress(ValueError):
                    cancels.cursors.get(key, []).remove(opened)

    def finished(self: Any, pending: Any, completed: Any) -> None:
        with cancels.lock:
            stopped = (pending.project, pending.job_id) in cancels.cancelled
        if stopped:
            completed.error = dict(STOPPED)
            completed.errors = [dict(STOPPED)]
            completed.error_kind = ErrorKind.INVALID_QUERY
            completed.columns = None
            completed.rows = []
            completed.anonymous_table = None
        original_finished(self, pending, completed)

    async def jobs_cancel(self: Any, request: Any) -> Any:
        params = request.path_params
        cancels.interrupt((params["project"], params["job"]))
        return await original_cancel(self, request)

    async def cancels_seen(request: Any) -> Any:
        with cancels.lock:
            return JSONResponse(list(cancels.log))

    def routes(self: Any) -> list[Any]:
        return [Route("/_floe/cancels", cancels_seen, methods=["GET"]), *original_routes(self)]

    engine_cls.cursor = cursor
    runner_cls.run_query = run_query
    store_cls.finished = finished
    server_cls.jobs_cancel = jobs_cancel
    server_cls.routes = routes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        fail(f"it serves on loopback only, not {args.host}")
    parts = check_internals()
    install(parts, Cancels())

    import uvicorn
    from crucible.engine import Engine
    from crucible.server.app import create_app

    # As `crucible serve`: access log off (request lines are noise and must not carry tokens).
    uvicorn.run(create_app("bigquery", Engine()), host=args.host, port=args.port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
