"""A Spark Connect target: its own session on a Spark Connect server.

Each target opens its own session on the server (``SparkSession.builder.create()`` with a channel
builder carrying the token); stopping it releases that session only. Queries carry a tag
(``addTag``, per thread in the client) that ``interruptTag`` stops; cancels are sent by the
engine's canceller thread, so ``interrupt()`` never blocks its caller.

pyspark's Connect client is imported when the session opens, never at import of this module.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any, Literal

from pydantic import SecretStr

from floe_compute_spark.config import SparkConnection
from floe_compute_spark.engine import Canceller, ExecutorMemory
from floe_compute_spark.errors import conf_error, first_line, is_connection_error
from floe_compute_spark.preflight import check_reachable
from floe_tui.compute import ConfigError, ConnectionFailedError, ConnectTimeoutError, run_bounded

#: Session settings a Spark Connect target gets unless its `conf` says otherwise.
#: Adaptive query execution is off: Spark Connect cancels by interrupting the operation's thread,
#: and a stage that adaptive execution is submitting at that moment (on another thread) is left
#: running on the server with nobody to stop it (measured here: 2 of 5 cancels within 60 ms of the
#: start left a job burning both cores; 0 of 5 without adaptive execution). Classic sessions keep
#: it: their job group is cancelled again until the query's call returns.
CONNECT_DEFAULTS = {"spark.sql.adaptive.enabled": "false"}


class ConnectEngine:
    """A Spark Connect target: its own session on the server."""

    mode: Literal["connect"] = "connect"
    #: Retries of a failed gRPC call: 50 ms, 150 ms, 450 ms (pyspark's default waits up to 10
    #: minutes). 650 ms in all, so a query on a server that died ends within 1 s of its death.
    RETRIES = {"max_retries": 3, "initial_backoff": 50, "backoff_multiplier": 3.0, "max_backoff": 1000}

    def __init__(self, target: str, connection: SparkConnection, token: SecretStr | None) -> None:
        self.target = target
        self.connection = connection
        self._token = token
        self.session: Any = None
        self.app_id: str | None = None
        self._lock = threading.Lock()
        self._canceller: Canceller | None = None
        self.generation = 0

    @property
    def description(self) -> str:
        return f"the Spark Connect server at {self.connection.remote_endpoint}"

    def open(self, deadline: float) -> None:
        self._canceller = Canceller(f"floe-spark-cancel-{self.target}")
        try:
            self._open_session(deadline)
        except BaseException:
            self.close()
            raise

    def _open_session(self, deadline: float) -> None:
        from pyspark.sql.connect.client import DefaultChannelBuilder
        from pyspark.sql.connect.client.retries import DefaultPolicy
        from pyspark.sql.connect.session import SparkSession

        connection = self.connection
        check_reachable(
            [(connection.remote_host, connection.remote_port)], deadline, "the Spark Connect server"
        )
        builder = DefaultChannelBuilder(connection.remote or "")
        if self._token is not None:
            builder.set("token", self._token.get_secret_value())
        if "user_agent" not in connection.remote_params:
            builder.set("user_agent", "floe-tui")
        session = SparkSession.builder.channelBuilder(builder).create()
        session.client.set_retry_policies([DefaultPolicy(**self.RETRIES)])  # type: ignore[arg-type]
        try:
            app_id = run_bounded(
                max(0.5, deadline - time.monotonic()),
                lambda: session.conf.get("spark.app.id"),
                f"{self.description} did not answer",
            )
            settings = {**CONNECT_DEFAULTS, **connection.conf}
            for key, value in settings.items():
                try:
                    session.conf.set(key, value)
                except Exception as exc:
                    if is_connection_error(exc):
                        raise
                    raise conf_error(key, exc) from None
        except ConnectTimeoutError:  # run_bounded gave up on the server: it will not answer a release
            _stop_quietly(session, answer_within_s=0.0)
            raise ConnectTimeoutError(f"{self.description} did not answer within connect_timeout_s") from None
        except ConfigError:
            _stop_quietly(session)
            raise
        except Exception as exc:
            _stop_quietly(session)
            raise _connect_failure(exc, self.description) from None
        self.session, self.app_id = session, str(app_id)
        self.generation += 1

    def ensure_open(self, deadline: float) -> None:
        with self._lock:
            if self.session is not None and self.failure() is None:
                return
            old, self.session = self.session, None
            if old is not None:
                threading.Thread(target=_stop_quietly, args=(old,), daemon=True).start()
            self._open_session(deadline)

    def failure(self) -> str | None:
        """None while the server answers on our session (one small RPC); else why not."""
        session = self.session
        if session is None:
            return "not connected"
        try:
            session.client._analyze(method="spark_version")
        except Exception as exc:
            return f"{self.description} is not answering: {_grpc_reason(exc)}"
        return None

    def close(self) -> None:
        session, self.session = self.session, None
        if self._canceller is not None:
            self._canceller.stop()
            self._canceller = None
        if session is not None:
            with contextlib.suppress(ConnectTimeoutError):
                run_bounded(
                    5.0, lambda: _stop_quietly(session), "releasing the Spark Connect session did not finish"
                )

    def cancel(self, tag: str) -> None:
        session, canceller = self.session, self._canceller
        if session is not None and canceller is not None:
            canceller.submit(lambda: session.interruptTag(tag))

    def memory(self) -> list[ExecutorMemory] | None:
        """From the driver's REST API (the Spark UI), which Spark Connect itself does not expose."""
        import json
        import urllib.request

        base = self.connection.default_ui_url()
        if base is None or self.app_id is None:
            return None
        url = f"{base}/api/v1/applications/{self.app_id}/executors"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                items = json.load(response)
        except (OSError, ValueError):
            return None
        return [
            ExecutorMemory(
                str(item.get("id")),
                int(item.get("memoryUsed", 0)),
                int(item.get("maxMemory", 0)),
                int(item.get("diskUsed", 0)),
            )
            for item in items
        ]


def _stop_quietly(session: Any, answer_within_s: float = 2.0) -> None:
    """Release the session on the server, then close its channel, waiting `answer_within_s` at most.

    A server that does not answer by then gets the channel closed under the pending call: that
    fails the call, and marks the client closed, so its exit hook (which would send the release
    calls again, with no deadline) does nothing. Else a hung server would hold up the exit of
    the process (`floe-tui query` took 20 s to exit after a connect timeout of 3 s).
    """
    stopped = threading.Event()

    def stop() -> None:
        with contextlib.suppress(Exception):
            session.stop()
        stopped.set()

    threading.Thread(target=stop, name="floe-spark-release", daemon=True).start()
    if not stopped.wait(answer_within_s):
        with contextlib.suppress(Exception):
            session.client.close()


def _grpc_reason(exc: BaseException) -> str:
    text = str(exc)
    for code in ("UNAVAILABLE", "UNAUTHENTICATED", "PERMISSION_DENIED", "DEADLINE_EXCEEDED", "NOT_FOUND"):
        if f"StatusCode.{code}" in text or code in text:
            detail = re.search(r'details = "([^"]*)"', text)
            return f"{code}" + (f" ({detail.group(1)})" if detail else "")
    return first_line(exc, 200)


def _connect_failure(exc: BaseException, description: str) -> ConnectionFailedError:
    reason = _grpc_reason(exc)
    if "UNAUTHENTICATED" in reason or "PERMISSION_DENIED" in reason:
        return ConnectionFailedError(
            f"{description} refused the session: {reason}",
            "check credentials.token (the server's spark.connect.authenticate.token)",
        )
    return ConnectionFailedError(f"{description} is not answering: {reason}")
