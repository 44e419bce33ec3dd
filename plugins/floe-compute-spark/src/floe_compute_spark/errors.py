"""Turn pyspark, py4j and gRPC exceptions into ComputeErrors with a code, a message and a hint.

Spark's messages can quote configuration values (``The value 'x' in the config ...``): a conf
error is reported by key and Spark error class only. Query errors keep Spark's own first line,
which quotes the SQL (the caller's text), never configuration.
"""

from __future__ import annotations

import re

from floe_tui.compute import ComputeError, ConfigError, ConnectionFailedError, QueryError

SQL_HINT = "check the statement against Spark SQL (spark.apache.org/docs/latest/sql-ref.html)"
_CONNECTION_WORDS = (
    "Error while sending or receiving",
    "Answer from Java side is empty",
    "Connection refused",
    "SparkContext was shut down",
    "Cannot call methods on a stopped SparkContext",
    "StatusCode.UNAVAILABLE",
    "failed to connect to all addresses",
    "Socket closed",
    "INVALID_HANDLE.SESSION",
    "NO_ACTIVE_SESSION",
    "SESSION_CHANGED",
    "SESSION_CLOSED",
    "SESSION_NOT_FOUND",
)
_STACK = re.compile(r"\s*(JVM stacktrace:|\tat |\n\s+at ).*", re.DOTALL)


def error_class(exc: BaseException) -> str | None:
    for getter in ("getCondition", "getErrorClass"):
        method = getattr(exc, getter, None)
        if callable(method):
            try:
                value = method()
            except Exception:  # a dead JVM cannot answer: no class then
                return None
            if value:
                return str(value)
    return None


def first_line(exc: BaseException, limit: int = 400) -> str:
    """Spark's message without the JVM stack trace, on one line."""
    text = ""
    getter = getattr(exc, "getMessage", None)
    if callable(getter):
        try:
            text = str(getter() or "")
        except Exception:
            text = ""
    text = text or str(exc) or type(exc).__name__
    text = _STACK.sub("", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_connection_error(exc: BaseException) -> bool:
    name = type(exc).__name__
    if name in ("Py4JNetworkError", "ConnectionError", "BrokenPipeError", "ConnectionResetError", "EOFError"):
        return True
    text = str(exc)
    return any(word in text for word in _CONNECTION_WORDS)


def query_error(exc: BaseException, *, engine: str) -> ComputeError:
    """The error of a statement: the SQL's fault unless the engine itself went away."""
    if isinstance(exc, ComputeError):
        return exc
    if is_connection_error(exc):
        return ConnectionFailedError(
            f"{engine} stopped answering ({type(exc).__name__})",
            "the next query reconnects; see the driver log or the Spark Connect server's log",
        )
    return QueryError(first_line(exc), SQL_HINT)


def conf_error(key: str, exc: BaseException) -> ConfigError:
    """Spark refused `conf.<key>`; the message names the key and Spark's error class, not the value."""
    cause = error_class(exc) or type(exc).__name__
    if cause == "CANNOT_MODIFY_STATIC_CONFIG" or (
        "static" in str(exc).lower() and "config" in str(exc).lower()
    ):
        return ConfigError(
            f"Spark refused connection `conf.{key}` ({cause}): it is fixed when the Spark application starts",
            "set it where the driver starts: for Spark Connect on the server, for a classic session in "
            "the first target of this process to connect",
        )
    return ConfigError(
        f"Spark refused connection `conf.{key}` ({cause})",
        f"fix the value of conf.{key}: see spark.apache.org/docs/latest/configuration.html",
    )


def redact(text: str, values: list[str]) -> str:
    """Drop configuration values from an engine message before it reaches a user or a log."""
    for value in sorted((v for v in values if len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
