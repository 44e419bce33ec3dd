"""The shared fixtures of the reliability suite (issue 13): real engines, real local servers.

Budget (2 shared cores; the whole suite must stay under 3 minutes): at most one Spark Connect
JVM per run (restarted only by the dead-engine test), one fakesnow and one crucible, all started
lazily by the first test that needs them (so `-k duckdb` starts none) and stopped, by their own
PIDs, when the last test of this folder ends (package scope: the plugins' own suites start theirs
later). Servers are killed, paused and resumed only through the handles below.

What every test here can rely on:

- Credentials: every credential the manifests reference is an ``{env:}`` variable holding a
  canary value (``canary(kind)``, sharing :data:`CANARY_CORE`), set for this process and every
  child. The Spark Connect server is started with the canary token, so a token that does not
  reach it would fail the login.
- No network: inside this process a guard refuses any ``connect()`` to a non-loopback address
  (and records it); child Python processes get the same guard from ``netguard/sitecustomize.py``
  (``PYTHONPATH``), recording into :data:`NETLOG`. The package teardown asserts that both
  records are empty.
- Deadlines, never sleeps: :func:`floe_tui.testing.wait_for` polls a condition with a deadline.
- Recovery times: tests call ``record(fault, engine, outcome, seconds)``; the session's terminal
  summary prints them as the README's "Faults survived" table (and writes them to
  ``$FLOE_FAULTS_TABLE`` as JSON when that is set).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .support import (
    ACTIVE,
    CHECKOUT,
    CREDENTIALS,
    FIGURES,
    HERE,
    NETLOG,
    REFUSED_HERE,
    SERVER_ENGINES,
    CliRun,
    Figure,
    ServerEngine,
    Servers,
    child_env,
    is_loopback,
    needs_spark,
    run_order,
)


@pytest.fixture
def record() -> Callable[..., None]:
    """`record(fault, engine, outcome, seconds, what="")`: one row of the "Faults survived" table."""

    def add(fault: str, engine: str, outcome: str, seconds: float | None, what: str = "") -> None:
        FIGURES.append(Figure(fault, engine, outcome, None if seconds is None else round(seconds, 3), what))

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("Faults survived (measured in this run)")
    terminalreporter.write_line("| fault | engine | outcome | recovery time |")
    terminalreporter.write_line("|---|---|---|---|")
    for figure in FIGURES:
        seconds = "-" if figure.seconds is None else f"{figure.seconds:.2f} s"
        what = f" ({figure.what})" if figure.what else ""
        terminalreporter.write_line(
            f"| {figure.fault} | {figure.engine} | {figure.outcome} | {seconds}{what} |"
        )
    target = os.environ.get("FLOE_FAULTS_TABLE")
    if target:
        Path(target).write_text(json.dumps([f.__dict__ for f in FIGURES], indent=1))


@pytest.fixture(scope="package", autouse=True)
def _loopback_only() -> Iterator[None]:
    """Refuse (and record) every connect() of this process to an address that is not loopback."""
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: socket.socket, address: Any) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
                REFUSED_HERE.append(repr(address))
                raise OSError(101, f"floe fault suite: no network beyond loopback ({address!r})")
            return method(self, address)

        return call

    socket.socket.connect = guarded(original_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(original_connect_ex)  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
    refused = NETLOG.read_text() if NETLOG.exists() else ""
    assert not REFUSED_HERE and not refused, f"non-loopback connects: {REFUSED_HERE} {refused}"


# -- environment ------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh home for the suite's own files: XDG data, cache and config dirs live below it."""
    return tmp_path_factory.mktemp("faults-home")


@pytest.fixture(scope="package", autouse=True)
def fault_env(home: Path) -> Iterator[dict[str, str]]:
    """The canary credentials and the no-probe switches, in this process and (returned) for children."""
    settings = {
        **CREDENTIALS,
        "NO_GCE_CHECK": "true",
        "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "FLOE_DATA_DIR"):
            patch.delenv(name, raising=False)
        patch.delenv("OTEL_METRICS_EXPORTER", raising=False)
        yield {k: v for k, v in os.environ.items()}


@pytest.fixture(scope="package")
def cli(fault_env: dict[str, str]) -> Callable[..., CliRun]:
    """`cli("validate", PATH, env={...}, timeout=60, stdin=None)`: `floe-tui` as a child process."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 90, stdin: str | None = None
    ) -> CliRun:
        command = [sys.executable, "-m", "floe_tui.cli", *args]
        started = time.monotonic()
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
            env=child_env(fault_env, **(env or {})),
            cwd=str(CHECKOUT),
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return CliRun(list(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    return run


@pytest.fixture(scope="package")
def servers(fault_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Servers]:
    """The servers; the Spark Connect JVM starts in the background at once when a selected test
    needs it (the tests without Spark run first, see `pytest_collection_modifyitems`)."""
    pool = Servers()
    if any(needs_spark(item) and Path(item.path).is_relative_to(HERE) for item in request.session.items):
        pool.prestart("spark")
    ACTIVE.append(pool)
    try:
        yield pool
    finally:
        ACTIVE.remove(pool)
        pool.close()


@pytest.fixture(scope="package", autouse=True)
def _servers_early(servers: Servers) -> None:
    """Make the servers fixture (and so the JVM's background start) the package's first."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within this folder, in the order `support.run_order` gives (stable otherwise)."""
    mine = [index for index, item in enumerate(items) if Path(item.path).is_relative_to(HERE)]
    ordered = sorted((items[index] for index in mine), key=run_order)
    for index, item in zip(mine, ordered, strict=True):
        items[index] = item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last test that needs Spark (its fixtures torn down), stop the JVM."""
    if ACTIVE and needs_spark(item) and (nextitem is None or not needs_spark(nextitem)):
        ACTIVE[-1].stop("spark")


@pytest.fixture(
    params=[pytest.param("spark", marks=pytest.mark.slow), "snowflake", "bigquery"],
)
def server_engine(request: pytest.FixtureRequest, servers: Servers) -> ServerEngine:
    """Each engine that has a server process of its own, in turn."""
    return servers.get(request.param)


@pytest.fixture
def all_server_engines(servers: Servers) -> dict[str, ServerEngine]:
    return {name: servers.get(name) for name in SERVER_ENGINES}
