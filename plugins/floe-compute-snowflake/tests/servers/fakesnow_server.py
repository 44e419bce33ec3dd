"""TEST DOUBLE: fakesnow's Snowflake-protocol server, with cancels that really stop the query.

This is not Snowflake. It is fakesnow 0.12.1 (DuckDB behind Snowflake's HTTP protocol) run from its
own venv (``.venv-servers/fakesnow``, made by ``make servers``), plus one change of ours. Stock
fakesnow answers the connector's abort request with a no-op, so a cancelled statement keeps DuckDB
busy until it ends by itself. Here the abort request interrupts the session's DuckDB connection, and
an interrupted statement fails as Snowflake's does: ``000604 SQL execution canceled``. So a test can
check that a cancel stops the engine (the server process's CPU falls), as against Snowflake.

The change uses fakesnow internals, which is why fakesnow is pinned exactly: before serving, this
script checks that each internal it relies on is there, and exits with status 3 naming what is
missing otherwise (a fakesnow upgrade must fail loudly here, not turn cancels back into no-ops).

Run with the server venv's Python::

    .venv-servers/fakesnow/bin/python fakesnow_server.py --host 127.0.0.1 --port 18765

It listens on loopback only, logs warnings and errors to stderr, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from typing import Any

EXPECTED_FAKESNOW = "0.12.1"
ABORT_PATHS = ("/queries/v1/abort-request", "/queries/{qid}/abort-request")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def fail(reason: str) -> None:
    print(f"fakesnow_server: {reason}; this test double needs fakesnow=={EXPECTED_FAKESNOW}", file=sys.stderr)
    raise SystemExit(3)


def check_internals() -> None:
    """Every fakesnow/DuckDB internal patched below exists, with the shape this script expects."""
    version = importlib.metadata.version("fakesnow")
    if version != EXPECTED_FAKESNOW:
        fail(f"fakesnow {version} is installed")
    import duckdb
    import fakesnow.server as fs
    from fakesnow.conn import FakeSnowflakeConnection
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.instance import FakeSnow

    if not isinstance(getattr(fs, "sessions", None), dict):
        fail("fakesnow.server.sessions (token -> connection) is missing")
    if not callable(getattr(fs, "to_token", None)):
        fail("fakesnow.server.to_token(request) is missing")
    if not callable(getattr(FakeSnowflakeCursor, "execute", None)):
        fail("FakeSnowflakeCursor.execute is missing")
    if not isinstance(getattr(duckdb, "InterruptException", None), type):
        fail("duckdb.InterruptException is missing")
    routes = getattr(getattr(getattr(fs, "app", None), "router", None), "routes", None)
    if not isinstance(routes, list) or ABORT_PATHS[0] not in {getattr(r, "path", None) for r in routes}:
        fail("fakesnow.server.app.router.routes has no abort-request route to replace")
    # A session's DuckDB connection: what the abort interrupts (cursors run on that same connection).
    probe = FakeSnow().connect(None, None)
    try:
        if not isinstance(getattr(probe, "_duck_conn", None), duckdb.DuckDBPyConnection):
            fail("FakeSnowflakeConnection._duck_conn is not a DuckDB connection")
    finally:
        probe.close()
    if not issubclass(type(probe), FakeSnowflakeConnection):
        fail("FakeSnow().connect() no longer returns a FakeSnowflakeConnection")


def install_cancel() -> None:
    """Abort requests interrupt the session's DuckDB statement, which then fails with 000604."""
    import duckdb
    import fakesnow.server as fs
    import snowflake.connector.errors as sf_errors
    from fakesnow.cursor import FakeSnowflakeCursor
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    original_execute = FakeSnowflakeCursor.execute

    def execute(self: FakeSnowflakeCursor, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_execute(self, *args, **kwargs)
        except duckdb.InterruptException as exc:
            raise sf_errors.ProgrammingError(
                msg="SQL execution canceled", errno=604, sqlstate="57014"
            ) from exc

    FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]

    async def abort(request: Request) -> JSONResponse:
        try:
            token = fs.to_token(request)
        except fs.ServerError as exc:
            return JSONResponse({"success": False, "code": exc.code, "message": exc.message}, exc.status_code)
        session = fs.sessions.get(token)
        if session is not None:
            session._duck_conn.interrupt()
        return JSONResponse({"success": True, "data": None, "code": None, "message": None})

    routes = fs.app.router.routes
    routes[:] = [r for r in routes if getattr(r, "path", None) not in ABORT_PATHS]
    routes[0:0] = [Route(path, abort, methods=["POST"]) for path in ABORT_PATHS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    check_internals()
    install_cancel()
    import logging
    import warnings

    import fakesnow.server as fs
    import uvicorn

    # fakesnow logs every failed statement at INFO, and DuckDB warns on every Arrow result.
    logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)

    uvicorn.run(
        fs.app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    # Stopped (SIGTERM/SIGINT): statements still running in DuckDB's worker threads would hold the
    # exit until they end by themselves; stop them, then leave without waiting on those threads.
    for session in list(fs.sessions.values()):
        session._duck_conn.interrupt()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
