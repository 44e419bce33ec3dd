"""Shared fixtures of the Databricks plugin's tests.

No Databricks server runs here, and none is imitated: the real connector and SDK are driven
against plain loopback sockets the tests open themselves (a port with nothing listening, a
listener that accepts and never answers, one that answers in plain text where TLS is expected).
What needs a workspace runs in the live tests, gated on FLOE_DATABRICKS_HOST,
FLOE_DATABRICKS_HTTP_PATH and FLOE_DATABRICKS_TOKEN.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_tui.compute import ComputeConfig

HERE = Path(__file__).resolve().parent
WAREHOUSE_PATH = "/sql/1.0/warehouses/0123456789abcdef"
TOKEN_VAR = "FLOE_TEST_DATABRICKS_TOKEN"
#: What the tests put in the token variable: it must never show up in any output.
TOKEN_VALUE = "dapi-floe-test-0123456789abcdef-NOT-A-REAL-TOKEN"
TargetFactory = Callable[..., ComputeConfig]


def build_target(
    connection: dict[str, Any] | None = None,
    *,
    port: int = 443,
    pool: dict[str, Any] | None = None,
    **fields: Any,
) -> ComputeConfig:
    """A Databricks target on 127.0.0.1 (`port`), its token from TOKEN_VAR."""
    data: dict[str, Any] = {
        "name": "dbx",
        "plugin": "databricks",
        "connection": {"host": "127.0.0.1", "port": port, "http_path": WAREHOUSE_PATH, **(connection or {})},
        "credentials": {"token": {"env": TOKEN_VAR}},
        **fields,
    }
    if pool is not None:
        data["pool"] = pool
    return ComputeConfig.from_mapping(data)


@pytest.fixture
def target() -> TargetFactory:
    """`target({"catalog": ...}, port=N, pool={...})`: a Databricks target named `dbx` on 127.0.0.1."""
    return build_target


@pytest.fixture
def closed_port_manifests() -> Path:
    """The hierarchy whose Databricks target is 127.0.0.1 on a closed port (port 1)."""
    return HERE / "manifests" / "closed-port"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_VAR, TOKEN_VALUE)
    return TOKEN_VALUE


def _listener() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    return server


def _serve(server: socket.socket, handle: Callable[[socket.socket], None]) -> threading.Thread:
    def accept_loop() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # the fixture closed the listener
                return
            handle(client)

    thread = threading.Thread(target=accept_loop, name="test-listener", daemon=True)
    thread.start()
    return thread


def _stop(server: socket.socket, thread: threading.Thread) -> None:
    """Close the listener; shutting it down first wakes the thread blocked in accept()."""
    with contextlib.suppress(OSError):
        server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)
    assert not thread.is_alive(), "the test listener did not stop"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (checked: a connect is refused)."""
    holder = _listener()
    port: int = holder.getsockname()[1]
    holder.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that accepts every connection and never sends a byte."""
    server = _listener()
    held: list[socket.socket] = []
    thread = _serve(server, held.append)
    yield server.getsockname()[1]
    _stop(server, thread)
    for client in held:
        client.close()


@pytest.fixture
def plaintext_port() -> Iterator[int]:
    """A listener that answers in plain HTTP, as a port without TLS does: a TLS handshake fails."""

    def answer(client: socket.socket) -> None:
        with client:
            try:
                client.settimeout(5)
                client.recv(4096)
                client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass

    server = _listener()
    thread = _serve(server, answer)
    yield server.getsockname()[1]
    _stop(server, thread)


def _non_daemon_threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if not t.daemon and t.ident is not None}


@pytest.fixture
def non_daemon_threads() -> Callable[[], set[int]]:
    """The idents of the threads that would keep the interpreter from exiting, when called."""
    return _non_daemon_threads


@pytest.fixture(scope="session")
def connector_loaded() -> None:
    """Import the connector and the SDK once, so deadline figures do not include import time."""
    import databricks.sdk.service.sql
    import databricks.sql.client  # noqa: F401
