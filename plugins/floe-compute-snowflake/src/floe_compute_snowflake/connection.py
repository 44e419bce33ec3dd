"""One Snowflake session per pooled connection, on the official connector.

The connector is imported here, inside the functions that open a session, never when the plugin
module loads: `floe-tui validate` and the console's first paint must not pay for it.

A statement runs with a request id this module chooses, so a cancel can name it before the
connector reports anything: :meth:`SnowflakeSession.interrupt` posts Snowflake's abort request
for that id (the connector's own cancel, the one its ``timeout=`` uses; the connector has no public
cancel call, connector #1441). Results come from ``fetch_arrow_batches()``, re-sliced so that a
result that arrives as one block still reaches the caller in bounded record batches.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from floe_tui.compute import (
    Column,
    ComputeError,
    ConfigError,
    ConnectionFailedError,
    QueryCancelledError,
    QueryError,
    QueryStats,
    QueryTimeoutError,
    run_bounded,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from snowflake.connector import SnowflakeConnection as RawConnection
    from snowflake.connector.cursor import SnowflakeCursor

log = logging.getLogger("floe_compute_snowflake")
#: Rows per record batch handed to the core (a 1e6-row result from one block is 16 batches).
BATCH_ROWS = 65_536
#: The engine-side backstop of a statement: its timeout rounded up, plus this.
BACKSTOP_MARGIN_S = 10
#: Closing a session sends a request; a dead server must not hold a retired connection's caller.
CLOSE_WITHIN_S = 2.0
#: Snowflake's "SQL execution canceled" (an abort request, or a cancel from elsewhere).
ERRNO_CANCELED = 604
#: "Statement reached its statement or warehouse timeout ... and was canceled".
ERRNO_STATEMENT_TIMEOUT = 630
#: Session-level failures after which the session cannot be used again.
SESSION_GONE_ERRNOS = frozenset({390104, 390111, 390112, 390114, 390195})
#: The server does not implement the statement (fakesnow: `009999 ... not implemented`).
ERRNO_NOT_IMPLEMENTED = 9999


def backstop_seconds(timeout_s: float) -> int:
    """STATEMENT_TIMEOUT_IN_SECONDS for a statement whose own timeout is `timeout_s`."""
    return math.ceil(timeout_s) + BACKSTOP_MARGIN_S


@dataclass
class SessionCounters:
    """What a target's sessions sent, for tests and benchmarks (plain ints, updated under the GIL)."""

    logins: int = 0
    statements: int = 0
    heartbeats: int = 0
    aborts: int = 0


@dataclass
class SessionOptions:
    """What every session of one target is opened with (secrets included; never printed)."""

    kwargs: dict[str, Any] = field(repr=False)
    where: str
    default_timeout_s: float
    #: Shared by the target's sessions: False once the server refused the statement timeout.
    backstop: BackstopSupport
    counters: SessionCounters = field(default_factory=SessionCounters)


class BackstopSupport:
    """Whether the server takes STATEMENT_TIMEOUT_IN_SECONDS; noted once when it does not."""

    def __init__(self) -> None:
        self.supported = True
        self._lock = threading.Lock()

    def refused(self, target: str, error: str) -> None:
        with self._lock:
            if not self.supported:
                return
            self.supported = False
        log.info(
            "target %r: the server refused STATEMENT_TIMEOUT_IN_SECONDS (%s); the plugin's own deadline "
            "holds without the engine-side backstop",
            target,
            error,
            extra={"event": "snowflake.backstop_unsupported"},
        )


def quiet_connector() -> None:
    """The connector's log records and Python warnings go to logging, never to stderr by themselves.

    Its records propagate to the root logger like any library's; a NullHandler on ``snowflake``
    keeps Python's last-resort handler from printing them when the application set up no logging.
    Its warnings (``warnings.warn`` from a ``snowflake`` module) become DEBUG records of this
    plugin's logger; every other warning is shown as before. Installed once, idempotent.
    """
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        _quieted = True
        logging.getLogger("snowflake").addHandler(logging.NullHandler())
        previous = warnings.showwarning

        def showwarning(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if f"{os.sep}snowflake{os.sep}" in filename:
                log.debug("snowflake connector warning: %s: %s", category.__name__, message)
                return
            previous(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning


_quiet_lock = threading.Lock()
_quieted = False


def open_session(options: SessionOptions) -> SnowflakeSession:
    """Log in: one Snowflake session (bounded by the connector's login timeout and the core's)."""
    raw = _connect(options)
    options.counters.logins += 1
    return SnowflakeSession(raw, options)


def _connect(options: SessionOptions) -> RawConnection:
    quiet_connector()
    import snowflake.connector
    from snowflake.connector.errors import Error as SnowflakeError

    try:
        return snowflake.connector.connect(**options.kwargs)
    except SnowflakeError as exc:
        raise login_error(exc, options.where) from None
    except (OSError, ValueError, TypeError) as exc:
        raise ConnectionFailedError(
            f"cannot open a Snowflake session on {options.where}: {type(exc).__name__}",
            "check connection.host, connection.port and connection.protocol",
        ) from None


def login_error(exc: Exception, where: str) -> ComputeError:
    """A failed login as a ComputeError; the connector's text names no secret."""
    errno = int(getattr(exc, "errno", -1) or -1)
    text = _engine_text(exc)
    if errno in (390100, 390101, 390102, 390144, 390191, 394300):
        return ConnectionFailedError(
            f"Snowflake refused the login on {where}: {text}",
            "check connection.user and the credential its reference points to",
        )
    return ConnectionFailedError(
        f"cannot open a Snowflake session on {where}: {text}",
        "check that the account, host and port are right and the service is reachable; "
        "pool.connect_timeout_s bounds the login",
    )


def query_error(exc: Exception, *, stopping: bool) -> ComputeError:
    """A connector error of a running statement as a ComputeError (engine message kept)."""
    errno = int(getattr(exc, "errno", -1) or -1)
    text = _engine_text(exc)
    if errno == ERRNO_CANCELED:
        if "due to a timeout" in text:  # the connector's own timer fired (our backstop)
            return QueryTimeoutError(f"Snowflake cancelled the statement at its timeout: {text}")
        if stopping:
            return QueryCancelledError(f"Snowflake cancelled the statement: {text}")
        return QueryCancelledError(
            f"Snowflake cancelled the statement: {text}",
            "someone cancelled it in Snowflake (SYSTEM$CANCEL_QUERY, the web UI); run it again",
        )
    if errno == ERRNO_STATEMENT_TIMEOUT:
        return QueryTimeoutError(
            f"Snowflake stopped the statement at its timeout: {text}",
            "raise the query timeout, or the STATEMENT_TIMEOUT_IN_SECONDS of the user or warehouse",
        )
    if errno in SESSION_GONE_ERRNOS:
        return ConnectionFailedError(f"the Snowflake session ended: {text}", "run the query again")
    from snowflake.connector.errors import InterfaceError, OperationalError, ProgrammingError

    if isinstance(exc, ProgrammingError):
        return QueryError(text)
    if isinstance(exc, (OperationalError, InterfaceError, OSError)):
        # The server went away or stopped answering: the session is not to be trusted again.
        return ConnectionFailedError(f"lost the Snowflake session: {text}", "check that the service is up")
    return QueryError(text)


def _engine_text(exc: Exception) -> str:
    """The connector's message on one line: errno, SQL state, text; without a query id."""
    raw = getattr(exc, "raw_msg", None)
    errno = int(getattr(exc, "errno", -1) or -1)
    text = " ".join(str(raw if raw else exc).split()) or type(exc).__name__
    if errno != -1 and not text[:6].isdigit():
        sqlstate = getattr(exc, "sqlstate", "n/a")
        text = f"{errno:06d} ({sqlstate}): {text}" if sqlstate != "n/a" else f"{errno:06d}: {text}"
    return text if len(text) <= 500 else text[:497] + "..."


class SnowflakeSession:
    """One pooled connection: a Snowflake session (the connector's connection object)."""

    def __init__(self, raw: RawConnection, options: SessionOptions) -> None:
        self.raw = raw
        self._options = options
        self._lock = threading.Lock()
        #: (sql, request id) of the statement the server is executing now.
        self._running: tuple[str, str] | None = None
        self._stopping = False
        self._closed = False  # the connector's is_closed() stays False after a failed close
        #: STATEMENT_TIMEOUT_IN_SECONDS of this session, as set at login.
        self._backstop_s = backstop_seconds(options.default_timeout_s)

    # -- EngineConnection ------------------------------------------------------------------
    def run(self, sql: str, row_limit: int | None, timeout_s: float) -> SnowflakeResult:
        backstop = backstop_seconds(timeout_s)
        with self._lock:
            self._stopping = False
        self._set_backstop(backstop)
        cursor = self.raw.cursor()
        request_id = str(uuid.uuid4())
        with self._lock:
            self._running = (sql, request_id)
        self._options.counters.statements += 1
        try:
            # `timeout` arms the connector's own cancel timer and bounds its retries: later than
            # the core's deadline, so the core stops the query first.
            # `_no_retry`: a submission the server dropped fails now instead of being resent until
            # the timeout (the connector still retries its polls for a running statement's result).
            params = {"requestId": request_id}
            cursor.execute(sql, timeout=backstop, _statement_params=params, _no_retry=True)
        except Exception as exc:
            cursor.close()
            raise query_error(exc, stopping=self._stopping) from None
        finally:
            with self._lock:
                self._running = None
        return SnowflakeResult(cursor, self)

    def interrupt(self) -> None:
        """Post Snowflake's abort request for the running statement (nothing runs: nothing to do)."""
        with self._lock:
            self._stopping = True
            running = self._running
        if running is None:  # not started yet, or fetching: the core stops reading by itself
            return
        sql, request_id = running
        self._options.counters.aborts += 1
        send_abort(self.raw, sql, request_id)

    # -- pool hooks ------------------------------------------------------------------------
    def ping(self) -> None:
        """The session heartbeat: wakes no warehouse, runs no SQL; raises if the session is gone."""
        if self._closed:
            raise ConnectionFailedError("the Snowflake session is closed")
        self._options.counters.heartbeats += 1
        if not self.raw.is_valid():
            raise ConnectionFailedError("the Snowflake session no longer answers its heartbeat")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:  # no retries, and not longer than CLOSE_WITHIN_S even if the server hangs
            run_bounded(CLOSE_WITHIN_S, self._close_raw, "closing a Snowflake session")
        except Exception as exc:  # a session that cannot be deleted expires on the server
            log.debug("closing a Snowflake session failed: %s", type(exc).__name__)

    def _close_raw(self) -> None:
        """The connector's close, then its HTTP sessions, which that close skips when deleting the
        session fails (a server that died, one that gave no master token): each kept a socket."""
        try:
            self.raw.close(retry=False)
        finally:
            rest = self.raw.rest  # None once the connector's close got to the end
            if rest is not None:
                rest.close()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _set_backstop(self, seconds: int) -> None:
        """STATEMENT_TIMEOUT_IN_SECONDS for the next statement, when it differs from the session's."""
        backstop = self._options.backstop
        if seconds == self._backstop_s or not backstop.supported:
            return
        cursor = self.raw.cursor()
        try:
            cursor.execute(
                f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {int(seconds)}", timeout=seconds
            )
            self._backstop_s = seconds
        except Exception as exc:
            errno = int(getattr(exc, "errno", -1) or -1)
            from snowflake.connector.errors import ProgrammingError

            if isinstance(exc, ProgrammingError) and errno in (ERRNO_NOT_IMPLEMENTED, 2003, 1003):
                backstop.refused(self._options.where, _engine_text(exc))
                return
            raise query_error(exc, stopping=self._stopping) from None
        finally:
            cursor.close()


def send_abort(raw: RawConnection, sql: str, request_id: str) -> None:
    """Snowflake's abort request for the statement with `request_id` (the connector's own cancel).

    This is the one place that uses a private connector method: ``_cancel_query`` posts
    ``/queries/v1/abort-request`` as the connector's ``timeout=`` does. It is checked at login
    (:func:`check_cancel_api`), so a connector without it fails there, not at the first cancel.
    """
    cancel = raw._cancel_query  # the connector has no public cancel (connector #1441)
    cancel(sql, uuid.UUID(request_id))


def check_cancel_api() -> None:
    """Fail loudly when the installed connector has no abort call this plugin can use."""
    from snowflake.connector import SnowflakeConnection as RawConnection

    if not callable(getattr(RawConnection, "_cancel_query", None)):
        raise ConnectionFailedError(
            "this snowflake-connector-python has no abort request (SnowflakeConnection._cancel_query)",
            "install a 4.x release (pip install 'snowflake-connector-python>=4.2,<5')",
        )


class SnowflakeResult:
    """The statement's result: Arrow tables from the connector, handed on as record batches."""

    def __init__(self, cursor: SnowflakeCursor, session: SnowflakeSession) -> None:
        from snowflake.connector.constants import FIELD_ID_TO_NAME

        self._cursor = cursor
        self._session = session
        description = cursor.description or []
        self.columns = [
            Column(name=str(d.name), type=FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code)))
            for d in description
        ]
        self._batches: Iterator[pa.RecordBatch] | None = self._iterate() if description else iter(())
        self._query_id = cursor.sfqid

    def _iterate(self) -> Iterator[pa.RecordBatch]:
        from snowflake.connector.errors import NotSupportedError

        try:
            tables = self._cursor.fetch_arrow_batches()
        except NotSupportedError:  # a JSON result (DDL/DML status rows): convert the rows
            yield from _rows_to_batches(self._cursor, self.columns)
            return
        for table in tables:
            yield from table.to_batches(max_chunksize=BATCH_ROWS)

    def next_batch(self) -> pa.RecordBatch | None:
        if self._batches is None:
            return None
        try:
            return next(self._batches)
        except StopIteration:
            return None
        except ComputeError:
            raise
        except Exception as exc:  # a chunk download that failed, a connection lost mid-fetch
            raise query_error(exc, stopping=self._session.stopping) from None

    def close(self) -> None:
        self._batches = None
        self._cursor.close()

    def stats(self) -> QueryStats | None:
        return QueryStats(query_id=self._query_id) if self._query_id else None


def _rows_to_batches(cursor: SnowflakeCursor, columns: list[Column]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    names = [c.name for c in columns]
    while True:
        rows = cursor.fetchmany(BATCH_ROWS)
        if not rows:
            return
        data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        yield pa.RecordBatch.from_pydict(data)


def connect_kwargs(
    connection: Any,
    secrets: Mapping[str, Any],
    *,
    login_timeout_s: float,
    default_timeout_s: float,
) -> dict[str, Any]:
    """The connector's keyword arguments for one target (secrets resolved; never logged)."""
    session_parameters: dict[str, Any] = {
        # No telemetry to any other service, and none in band either.
        "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
        "CLIENT_TELEMETRY_ENABLED": False,
        "STATEMENT_TIMEOUT_IN_SECONDS": backstop_seconds(default_timeout_s),
    }
    if connection.query_tag:
        session_parameters["QUERY_TAG"] = connection.query_tag
    kwargs: dict[str, Any] = {
        "account": connection.account,
        "user": connection.user,
        "login_timeout": math.ceil(login_timeout_s),
        "network_timeout": connection.network_timeout_s,
        "client_session_keep_alive": connection.client_session_keep_alive,
        # Login must never probe cloud metadata addresses (DESIGN section 8, network hygiene).
        "platform_detection_timeout_seconds": 0.0,
        "session_parameters": session_parameters,
        "validate_default_parameters": False,
    }
    for key in ("warehouse", "database", "role", "host", "port", "protocol"):
        value = getattr(connection, key)
        if value is not None:
            kwargs[key] = value
    if connection.schema_ is not None:
        kwargs["schema"] = connection.schema_
    if "password" in secrets:
        kwargs["password"] = secrets["password"].get_secret_value()
    elif "private_key" in secrets:
        kwargs["authenticator"] = "SNOWFLAKE_JWT"
        passphrase = secrets.get("private_key_passphrase")
        kwargs["private_key"] = private_key_der(
            secrets["private_key"].get_secret_value(),
            None if passphrase is None else passphrase.get_secret_value(),
        )
    return kwargs


def private_key_der(pem: str, passphrase: str | None) -> bytes:
    """The PEM key as unencrypted PKCS#8 DER, which the connector takes; never quoted in an error."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(
            pem.encode(), password=None if passphrase is None else passphrase.encode()
        )
    except (ValueError, TypeError) as exc:
        hint = (
            "check credentials.private_key_passphrase"
            if passphrase is not None or "encrypted" in str(exc).lower()
            else "point credentials.private_key at a PEM private key file (BEGIN PRIVATE KEY)"
        )
        raise ConfigError("credentials.private_key is not a readable PEM private key", hint) from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
