"""One Databricks SQL session per pooled connection, through databricks-sql-connector (Thrift).

The connector has no pool: one ``Connection`` is one server session, which holds warehouse
compute, so the plugin's pool owns them. A statement starts with ``execute_async`` (the command
id is known as soon as the server accepted it, so a cancel can target it), is polled until it
ends, and its result is streamed with ``fetchmany_arrow`` in batches under the row limit.
``interrupt()`` sends ``cursor.cancel()`` (Thrift ``CancelOperation``) for the live command.

Nothing here imports the connector at module import: the plugin loads it when a target opens.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import ssl
import threading
import time
import warnings
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from floe_compute_databricks.config import DatabricksConnection
from floe_tui.compute import (
    Column,
    ComputeError,
    ConfigError,
    ConnectionFailedError,
    HealthState,
    HealthStatus,
    QueryCancelledError,
    QueryError,
    QueryStats,
    run_bounded,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("floe_compute_databricks")

#: Rows asked of the connector per `fetchmany_arrow` (never more than the row limit still wanted).
BATCH_ROWS = 50_000
#: The engine-side backstop: a statement runs at most this much longer than its timeout.
STATEMENT_TIMEOUT_MARGIN_S = 10
#: A session idle for longer than this is checked with `SELECT 1` before it is lent out again
#: (warehouses drop idle sessions: "Invalid SessionHandle"); a fresher one is lent unchecked.
IDLE_CHECK_S = 60.0
#: Polling of a running statement: soon at first (short queries), then at most once a second.
_POLL_FIRST_S = 0.05
_POLL_MAX_S = 1.0
#: After a cancel, how long the statement is polled for the warehouse to report it stopped.
_CANCEL_CONFIRM_S = 30.0
#: Between attempts to open a session while the warehouse answers 503/429 (it is starting).
_BUSY_RETRY_MAX_S = 10.0
_USER_AGENT = "floe-tui"
_SDK_RETRY_S = 1
_LIBRARY_LOGGERS = ("databricks", "thrift", "urllib3")
_quieted = False
_quiet_lock = threading.Lock()


def statement_timeout_s(timeout_s: float) -> int:
    """`STATEMENT_TIMEOUT` for a statement whose timeout is `timeout_s`: ceil(timeout) + 10 s."""
    return math.ceil(timeout_s) + STATEMENT_TIMEOUT_MARGIN_S


def quiet_library_output() -> None:
    """Route the libraries' logs to the log only, and drop their warnings.

    Python prints a library's warnings and errors on stderr when nothing handles its logger (the
    "last resort" handler): a NullHandler on each top-level logger prevents that while records
    still reach whatever handlers the application set up. Only the `error:` line of a command
    may reach stderr.
    """
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addHandler(logging.NullHandler())
        warnings.filterwarnings("ignore", module=r"databricks\.(sql|sdk)(\.|$)")
        warnings.filterwarnings("ignore", module=r"thrift(\.|$)")
        _quieted = True


def connect_kwargs(
    connection: DatabricksConnection,
    token: str,
    *,
    connect_timeout_s: float,
    query_timeout_s: float,
) -> dict[str, Any]:
    """The keyword arguments of ``databricks.sql.connect`` for one session of the target."""
    return {
        "server_hostname": connection.host,
        "http_path": connection.http_path,
        "access_token": token,
        "catalog": connection.catalog,
        "schema": connection.schema_,
        "_port": connection.port,
        # The connector would post telemetry to the workspace from a thread pool of its own.
        "enable_telemetry": False,
        "user_agent_entry": _USER_AGENT,
        # The engine-side backstop for statements that run with the target's default timeout;
        # a query with another timeout sets its own before it starts.
        "session_configuration": {"STATEMENT_TIMEOUT": str(statement_timeout_s(query_timeout_s))},
        # One attempt per call, with the shortest delays the connector allows: the plugin decides
        # what to retry (a warehouse answering 503 while it starts) within connect_timeout_s, so
        # a refused port or TLS handshake is reported at once instead of retried for minutes.
        "_retry_stop_after_attempts_count": 1,
        "_retry_stop_after_attempts_duration": max(1.0, float(connect_timeout_s)),
        "_retry_delay_min": 0.1,
        # Not a wall clock (one attempt against a silent socket took 2-3 times this): the core's
        # deadline bounds every call; this only lets an abandoned call end soon afterwards.
        "_socket_timeout": float(max(5, math.ceil(connect_timeout_s))),
    }


def open_session(
    connection: DatabricksConnection,
    token: str,
    *,
    connect_timeout_s: float,
    query_timeout_s: float,
    target: str,
) -> Any:
    """A connector ``Connection`` (one server session); ConnectionFailedError when it cannot open.

    A warehouse that is starting answers 503 (or 429): the open is tried again until
    `connect_timeout_s` would pass. Anything else fails at once, with the connector's reason.
    """
    from databricks import sql

    quiet_library_output()
    kwargs = connect_kwargs(
        connection, token, connect_timeout_s=connect_timeout_s, query_timeout_s=query_timeout_s
    )
    deadline = time.monotonic() + connect_timeout_s
    delay = 1.0
    while True:
        try:
            return sql.connect(**kwargs)
        except Exception as exc:
            busy = _busy_status(exc)
            if busy is None or time.monotonic() + delay >= deadline:
                raise connect_error(exc, target, token) from None
            log.info("warehouse of target %r answered HTTP %s; trying again in %g s", target, busy, delay)
            time.sleep(delay)
            delay = min(delay * 2, _BUSY_RETRY_MAX_S)


class DatabricksSession:
    """One pooled connection: a connector ``Connection`` (a server session) and its live cursor."""

    def __init__(self, connection: Any, *, default_timeout_s: float, token: str | None = None) -> None:
        self.connection = connection
        self._token = token
        self._lock = threading.Lock()
        self._cursor: Any = None
        self._cancel_sent: object = None
        self._stop = threading.Event()
        self._cancelled = threading.Event()
        self._statement_timeout_works = True
        self._session_timeout = statement_timeout_s(default_timeout_s)
        self._default_timeout_s = default_timeout_s
        self.last_used = time.monotonic()

    # -- EngineConnection ------------------------------------------------------------------
    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> DatabricksResult:
        """Start `sql` and wait until the warehouse has its result; stream it from there.

        The statement's STATEMENT_TIMEOUT is ceil(timeout_s) + 10 s (the session's default is
        that of the target, so most statements need no SET).
        """
        with self._lock:
            self._stop.clear()
            self._cancelled.clear()
            self._cancel_sent = None
        self.last_used = time.monotonic()
        try:
            self._set_statement_timeout(timeout_s)
            cursor = self.connection.cursor(arraysize=BATCH_ROWS, row_limit=row_limit)
            with self._lock:
                self._cursor = cursor
            cursor.execute_async(sql)
            query_id = cursor.query_id
            if self._stop.is_set():  # the interrupt came before the command id was known
                self._cancel(cursor)
            self._wait_until_done(cursor)
            cursor.get_async_execution_result()
        except ComputeError:
            self._forget_cursor(close=True)
            raise
        except Exception as exc:
            self._forget_cursor(close=True)
            raise query_error(exc, self._token) from None
        return DatabricksResult(self, cursor, row_limit, query_id)

    def interrupt(self) -> None:
        """Cancel the live command (once per command); safe from any thread."""
        self._stop.set()
        with self._lock:
            cursor = self._cursor
        if cursor is not None:
            self._cancel(cursor)

    # -- pool hooks ------------------------------------------------------------------------
    def check(self) -> None:
        """Raise if the session is gone; asks the warehouse only after IDLE_CHECK_S of idleness."""
        if not self.connection.open:
            raise ConnectionFailedError("the session was closed", breaks_connection=True)
        if time.monotonic() - self.last_used < IDLE_CHECK_S:
            return
        try:
            cursor = self.connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchall()
            finally:
                cursor.close()
        except Exception as exc:
            raise query_error(exc, self._token) from None
        self.last_used = time.monotonic()

    def close(self) -> None:
        self.connection.close()

    # -- internals -------------------------------------------------------------------------
    def _set_statement_timeout(self, timeout_s: float) -> None:
        wanted = statement_timeout_s(timeout_s)
        if wanted == self._session_timeout or not self._statement_timeout_works:
            return
        cursor = self.connection.cursor()
        try:
            cursor.execute(f"SET STATEMENT_TIMEOUT = {int(wanted)}")
        except Exception as exc:  # noted once; the plugin's own deadline still holds
            self._statement_timeout_works = False
            log.info("the warehouse refused SET STATEMENT_TIMEOUT (%s)", type(exc).__name__)
        else:
            self._session_timeout = wanted
        finally:
            cursor.close()

    def _cancel(self, cursor: Any) -> None:
        """Send CancelOperation for the cursor's command, once; `_cancelled` is set once it went."""
        command = cursor.active_command_id
        with self._lock:
            if command is None or command is self._cancel_sent:
                return
            self._cancel_sent = command
        try:
            cursor.cancel()
        except Exception as exc:  # the statement may have ended meanwhile; the poll tells
            log.info("cancelling a statement failed (%s)", type(exc).__name__)
            with self._lock:
                self._cancel_sent = None  # the next interrupt tries again
            return
        self._cancelled.set()

    def _wait_until_done(self, cursor: Any) -> None:
        """Poll the statement until it ends; once stopped, until the warehouse took the cancel."""
        from databricks.sql.backend.types import CommandState

        pause = _POLL_FIRST_S
        give_up_at: float | None = None
        while True:
            state = cursor.get_query_state()
            if state not in (CommandState.PENDING, CommandState.RUNNING):
                break
            if not self._stop.is_set():
                self._stop.wait(pause)  # an interrupt ends the wait: the loop goes on at once
                pause = min(pause * 2, _POLL_MAX_S)
                continue
            # Stopped. The warehouse answered the CancelOperation: the statement is cancelled
            # there; the session is free for the next one.
            now = time.monotonic()
            give_up_at = give_up_at or now + _CANCEL_CONFIRM_S
            if now >= give_up_at:
                raise QueryCancelledError("the warehouse did not take the cancel")
            self._cancel(cursor)
            if self._cancelled.wait(min(pause, give_up_at - now)):
                raise QueryCancelledError("cancelled in the warehouse")
            pause = min(pause * 2, _POLL_MAX_S)
        if state is CommandState.CANCELLED:
            raise QueryCancelledError("the warehouse cancelled the statement")
        if state is not CommandState.SUCCEEDED:
            raise QueryError(f"the statement ended in state {state.value}")

    def _forget_cursor(self, *, close: bool) -> None:
        with self._lock:
            cursor, self._cursor = self._cursor, None
        self.last_used = time.monotonic()
        if close and cursor is not None:
            try:
                cursor.close()
            except Exception as exc:  # closing must not hide the query's own outcome
                log.debug("closing a cursor failed (%s)", type(exc).__name__)


class DatabricksResult:
    """A finished statement's result, fetched in Arrow batches on demand."""

    def __init__(self, session: DatabricksSession, cursor: Any, row_limit: int | None, query_id: str | None):
        self._session = session
        self._cursor = cursor
        self._left = row_limit
        self._query_id = query_id
        self._pending: deque[pa.RecordBatch] = deque()
        description = cursor.description or []
        self.columns = [Column(name=str(d[0]), type=str(d[1])) for d in description]
        self._done = not description

    def next_batch(self) -> pa.RecordBatch | None:
        while not self._pending:
            if self._done or (self._left is not None and self._left <= 0):
                return None
            size = BATCH_ROWS if self._left is None else min(BATCH_ROWS, self._left)
            try:
                table = self._cursor.fetchmany_arrow(size)
            except Exception as exc:
                raise query_error(exc, self._session._token) from None
            if table.num_rows == 0:
                self._done = True
                return None
            if self._left is not None:
                self._left -= table.num_rows
            self._pending.extend(batch for batch in table.to_batches() if batch.num_rows)
        return self._pending.popleft()

    def close(self) -> None:
        self._pending.clear()
        self._session._forget_cursor(close=True)

    def stats(self) -> QueryStats | None:
        return QueryStats(query_id=self._query_id) if self._query_id else None


# -- errors ----------------------------------------------------------------------------------
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*([^'\"()]+)")
_INVALID_SESSION = re.compile(r"invalid\s+sessionhandle", re.IGNORECASE)


#: What a failure to reach the workspace was, and what to tell the user: (message, hint).
_FAILURES: dict[str, tuple[str, str]] = {
    "token": (
        "the workspace refused the token",
        "check that credentials.token names a valid personal access token with access to the warehouse",
    ),
    "not_found": (
        "no SQL warehouse answers at the http_path",
        "copy http_path from the warehouse's Connection details",
    ),
    "tls": (
        "the TLS handshake with the workspace failed",
        "the host and port must serve HTTPS (a workspace's port is 443)",
    ),
    "dns": (
        "the workspace host does not resolve",
        "check `host` (the workspace host name, without https://)",
    ),
    "refused": (
        "the workspace refused the connection",
        "check `host` and `port`, and that the workspace can be reached from here",
    ),
    "other": ("the workspace could not be reached", "check the target's connection settings"),
}


def classify(exc: BaseException) -> str:
    """The kind of failure (a key of _FAILURES) behind a connector or SDK error."""
    status = _http_status(exc)
    names = {type(e).__name__ for e in _chain(exc)}
    if status in (401, 403) or names & {"Unauthenticated", "PermissionDenied"}:
        return "token"
    if status == 404 or names & {"NotFound", "ResourceDoesNotExist"}:
        return "not_found"
    root = root_cause(exc)
    if isinstance(root, ssl.SSLError) or any("SSL" in name for name in names):
        return "tls"
    if isinstance(root, socket.gaierror):
        return "dns"
    if isinstance(root, ConnectionRefusedError):
        return "refused"
    return "other"


def workspace_failure(exc: BaseException, token: str | None = None) -> tuple[str, str]:
    """(message, hint) for a failure to reach the workspace: what happened and the library's reason."""
    kind = classify(exc)
    message, hint = _FAILURES[kind]
    status = _http_status(exc)
    detail = describe(exc, token)
    if status is not None and str(status) not in detail:
        detail = f"HTTP {status}: {detail}"
    return f"{message}: {detail}", hint


def connect_error(exc: BaseException, target: str, token: str | None = None) -> ComputeError:
    """What went wrong opening a session, in a ComputeError that holds no configuration value."""
    if isinstance(exc, ComputeError):
        return exc
    message, hint = workspace_failure(exc, token)
    return ConnectionFailedError(f"target {target!r}: {message}", hint)


def query_error(exc: BaseException, token: str | None = None) -> ComputeError:
    """A statement's failure: the warehouse's message, or a lost session that retires the connection."""
    if isinstance(exc, ComputeError):
        return exc
    reason = describe(exc, token)
    if _INVALID_SESSION.search(reason):
        return ConnectionFailedError(
            f"the warehouse no longer knows this session ({reason})",
            "run the statement again: the pool replaces the expired session",
        )
    if _is_transport_error(exc):
        return ConnectionFailedError(f"the connection to the warehouse failed: {reason}")
    return QueryError(reason)


def describe(exc: BaseException, token: str | None = None) -> str:
    """The innermost useful message of a connector or SDK error, on one line, without the token."""
    root = root_cause(exc)
    if isinstance(root, ssl.SSLError):
        text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(root.strerror or root))
    elif isinstance(root, OSError) and root.strerror:
        text = root.strerror
    else:
        text = str(root) or type(root).__name__
        found = _ERRNO.search(text)
        if found:
            text = found.group(1).strip()
    text = " ".join(text.split()) or type(exc).__name__
    if token:
        text = text.replace(token, "****")
    return text if len(text) <= 300 else text[:297] + "..."


def root_cause(exc: BaseException) -> BaseException:
    """Follow urllib3's `reason`, the exception chain and wrapped errors to the first cause."""
    return _chain(exc)[-1]


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = _next_cause(current)
    return found


def _next_cause(exc: BaseException) -> BaseException | None:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    if exc.__cause__ is not None:
        return exc.__cause__
    for arg in exc.args:
        if isinstance(arg, BaseException):
            return arg
    context = getattr(exc, "context", None)
    if isinstance(context, Mapping):
        original = context.get("original-exception")
        if isinstance(original, BaseException):
            return original
    if exc.__context__ is not None and not exc.__suppress_context__:
        return exc.__context__
    return None


def _http_status(exc: BaseException) -> int | None:
    for current in _chain(exc):
        context = getattr(current, "context", None)
        if isinstance(context, Mapping) and isinstance(context.get("http-code"), int):
            return int(context["http-code"])
        for attribute in ("status", "status_code", "http_code"):
            value = getattr(current, attribute, None)
            if isinstance(value, int) and 100 <= value <= 599:
                return value
        found = re.search(r"too many (\d{3}) error responses", str(current))
        if found:
            return int(found.group(1))
    return None


def _busy_status(exc: BaseException) -> int | None:
    status = _http_status(exc)
    return status if status in (429, 503) else None


def _is_transport_error(exc: BaseException) -> bool:
    root = root_cause(exc)
    if isinstance(root, OSError):
        return True
    names = {type(e).__name__ for e in (exc, root)}
    return bool(names & {"RequestError", "MaxRetryError", "TTransportException", "ProtocolError"})


def require_token(secrets: Mapping[str, Any], target: str) -> str:
    """The resolved token; ConfigError when the target has none (the connector would start OAuth)."""
    token = secrets.get("token")
    if token is None:
        raise ConfigError(
            f"target {target!r} has no credential `token`",
            "add credentials: {token: {env: DATABRICKS_TOKEN}} (a personal access token)",
        )
    value: str = token.get_secret_value()
    if not value.strip():
        raise ConfigError(f"the token of target {target!r} is empty", "set the variable or file to the token")
    return value


# -- warehouse state over the REST API (health) ----------------------------------------------
class WarehouseStateReader:
    """The warehouse's state from the workspace REST API (databricks-sdk `warehouses.get`).

    No SQL session is opened, so reading it neither wakes a stopped warehouse nor keeps a running
    one from stopping on its own. One SDK client per timeout (rounded up to whole seconds, which
    the SDK takes), so its HTTP connection is reused from one poll to the next.
    """

    def __init__(self, connection: DatabricksConnection, token: str, *, product_version: str) -> None:
        self.connection = connection
        self.token = token
        self._product_version = product_version
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    def read(self, timeout_s: float) -> Any:
        """The SDK's GetWarehouseResponse; the SDK's own errors propagate."""
        return self._client(timeout_s).warehouses.get(self.connection.warehouse_id)

    def _client(self, timeout_s: float) -> Any:
        seconds = max(1, math.ceil(timeout_s))
        with self._lock:
            client = self._clients.get(seconds)
            if client is None:
                from databricks.sdk import WorkspaceClient
                from databricks.sdk.core import Config

                quiet_library_output()
                config = Config(
                    host=self.connection.workspace_url,
                    token=self.token,
                    auth_type="pat",  # only the token: no profile file, no other variables
                    http_timeout_seconds=seconds,
                    # The SDK retries refused connections and timeouts until this passes and then
                    # reports "Timed out" (the reason is only in the exception's cause): one
                    # attempt and one pause of 1-2 s, so a poll still carries the real reason.
                    # The next poll is the retry.
                    retry_timeout_seconds=_SDK_RETRY_S,
                    product="floe-tui",
                    product_version=self._product_version,
                )
                client = self._clients[seconds] = WorkspaceClient(config=config)
            return client


#: Warehouse state -> (health, message). A stopped warehouse is not a fault: it starts on demand.
WAREHOUSE_HEALTH: dict[str, tuple[str, str]] = {
    "RUNNING": ("healthy", "running"),
    "STARTING": ("degraded", "starting"),
    "STOPPING": ("degraded", "stopping (starts again on the next query)"),
    "STOPPED": ("degraded", "stopped (starts on the next query)"),
    "DELETING": ("unhealthy", "the warehouse is being deleted"),
    "DELETED": ("unhealthy", "the warehouse was deleted"),
}


def warehouse_health(state: str | None) -> tuple[str, str]:
    """(health state value, message) for a warehouse state as the REST API reports it."""
    if state is None:
        return "degraded", "the workspace did not report the warehouse's state"
    return WAREHOUSE_HEALTH.get(state, ("degraded", f"warehouse state {state}"))


def warehouse_status(reader: WarehouseStateReader, timeout_s: float) -> HealthStatus:
    """The warehouse's health from its state, within `timeout_s`; never raises.

    Errors become `unhealthy` with the SDK's reason (an HTTP status, a refused connection, a
    TLS failure), never the token; a workspace that does not answer in time, likewise.
    """
    warehouse_id = reader.connection.warehouse_id
    where = {"warehouse_id": warehouse_id}
    try:
        info = run_bounded(
            timeout_s,
            lambda: reader.read(timeout_s),
            f"the workspace did not report the state of warehouse {warehouse_id}",
        )
    except ComputeError as exc:
        return HealthStatus(status=HealthState.UNHEALTHY, message=exc.message, details=where)
    except Exception as exc:
        message, _ = workspace_failure(exc, reader.token)
        return HealthStatus(status=HealthState.UNHEALTHY, message=message, details=where)
    state = getattr(getattr(info, "state", None), "value", None)
    health, message = warehouse_health(state)
    details: dict[str, Any] = {**where, "state": state}
    for field in ("num_clusters", "cluster_size", "auto_stop_mins"):
        value = getattr(info, field, None)
        if value is not None:
            details[field] = value
    return HealthStatus(status=HealthState(health), message=message, details=details)
