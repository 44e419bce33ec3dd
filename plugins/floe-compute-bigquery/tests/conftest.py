"""Fixtures of the BigQuery plugin's tests: the real client over loopback HTTP to crucible.

Budget (2 cores, at most 90 s in `make test`): one crucible server for the session, started
through the cancel wrapper (``tests/servers/crucible_cancel.py``, a test double that makes
``jobs.cancel`` stop DuckDB); the few tests that kill, pause or replace a server start their own.
The emulator runs from ``.venv-servers/crucible`` (``make servers``): its duckdb pin cannot sit in
the project venv. A missing venv fails the tests, it does not skip them.

No test reaches a non-loopback address: the client goes to ``api_endpoint``, keyfiles name a
loopback token stub as ``token_uri``, and ``NO_GCE_CHECK=true`` keeps google-auth from probing
for a metadata server.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import (
    PROJECT,
    TOKEN_ENV,
    create_dataset,
    crucible_server,
    local_target,
    raw_client,
)
from floe_tui.compute import ComputeConfig
from floe_tui.testing import ServerError, ServerProcess


def _server(*, stock: bool = False) -> ServerProcess:
    try:
        return crucible_server(stock=stock)
    except ServerError as exc:  # no server venv: the tests fail, they are not skipped
        pytest.fail(str(exc))


@pytest.fixture(scope="session", autouse=True)
def _token() -> Iterator[str]:
    """The token of the tests' targets, in TOKEN_ENV for the session (no server checks it)."""
    previous = os.environ.get(TOKEN_ENV)
    token = os.environ[TOKEN_ENV] = "tok-" + secrets.token_hex(12)
    yield token
    if previous is None:
        os.environ.pop(TOKEN_ENV, None)
    else:
        os.environ[TOKEN_ENV] = previous


@pytest.fixture(scope="session")
def crucible() -> Iterator[ServerProcess]:
    """The session's crucible (with the cancel wrapper) on a free loopback port, a dataset made."""
    server = _server()
    server.start()
    try:
        create_dataset(server)
        yield server
    finally:
        server.close()


@pytest.fixture
def new_crucible() -> Iterator[Callable[..., ServerProcess]]:
    """`new_crucible(stock=False)`: a server of the test's own (to kill, pause or keep busy)."""
    started: list[ServerProcess] = []

    def start(*, stock: bool = False) -> ServerProcess:
        server = _server(stock=stock)
        started.append(server)
        server.start()
        create_dataset(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def bq_target(crucible: ServerProcess) -> Callable[..., ComputeConfig]:
    """`bq_target(name, server=..., connection={...}, credentials={...}, pool={...})`: a target on
    the session's emulator (or `server`), its token by {env:} reference."""

    def make(name: str = "bq", server: ServerProcess | None = None, **fields: Any) -> ComputeConfig:
        return local_target(server or crucible, name, **fields)

    return make


@pytest.fixture(scope="session")
def bq_target_session(crucible: ServerProcess) -> Callable[..., ComputeConfig]:
    """`bq_target` for fixtures wider than a test (the compliance suite's class)."""

    def make(name: str = "bq", **fields: Any) -> ComputeConfig:
        return local_target(crucible, name, **fields)

    return make


@pytest.fixture(scope="session")
def inspect_client(crucible: ServerProcess) -> Iterator[Any]:
    """A bare client on the session server, to read back the jobs the plugin sent."""
    client = raw_client(crucible)
    yield client
    client.close()


@pytest.fixture
def open_plugin() -> Iterator[Callable[[ComputeConfig], BigQueryComputePlugin]]:
    """Connect a plugin for one test; disconnect it afterwards and check that its pool is empty."""
    opened: list[BigQueryComputePlugin] = []

    def open_(config: ComputeConfig) -> BigQueryComputePlugin:
        plugin = BigQueryComputePlugin(config)
        opened.append(plugin)
        plugin.connect()
        return plugin

    yield open_
    for plugin in opened:
        plugin.disconnect()
        stats = plugin.pool_stats()
        assert (stats.size, stats.in_use, stats.created - stats.closed) == (0, 0, 0), stats


# -- a service-account keyfile and the token service it names ---------------------------------
@dataclass
class TokenStub:
    """A loopback OAuth token endpoint: answers every JWT-bearer grant with a fresh access token."""

    url: str
    grants: list[dict[str, str]] = field(default_factory=list)
    refuse: bool = False


class _TokenHandler(BaseHTTPRequestHandler):
    stub: TokenStub

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.stub.grants.append(form)
        if self.stub.refuse:
            body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            status = 400
        else:
            body = {
                "access_token": "ya29.stub-" + secrets.token_hex(8),
                "expires_in": 3600,
                "token_type": "Bearer",
            }
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # no request lines on stderr
        return


@pytest.fixture
def token_stub() -> Iterator[TokenStub]:
    """The token service of the test keyfiles, on a free loopback port, for one test."""
    handler = type("Handler", (_TokenHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    stub = TokenStub(url=f"http://127.0.0.1:{server.server_address[1]}/token")
    handler.stub = stub
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="token-stub", daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Keyfile:
    path: Path
    private_key_pem: str
    public_key: Any
    client_email: str


@pytest.fixture
def make_keyfile(tmp_path: Path) -> Callable[[str], Keyfile]:
    """`make_keyfile(token_uri)`: a service-account JSON key with an RSA key made for the test."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def make(token_uri: str) -> Keyfile:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        email = f"floe-test@{PROJECT}.iam.gserviceaccount.com"
        info = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "token_uri": token_uri,
        }
        path = tmp_path / f"sa-{secrets.token_hex(4)}.json"
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return Keyfile(path=path, private_key_pem=pem, public_key=key.public_key(), client_email=email)

    return make
