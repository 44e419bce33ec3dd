"""Fixtures of the Spark plugin's tests: real Spark, no mocks.

Budget (2 cores): one classic JVM and one Spark Connect server for the whole run. The classic JVM
is kept up by an anchor target connected for the session (targets opened by tests share it, as
classic targets of one process do); the Connect server is a child process on a loopback port.
Both are stopped at the end, and the teardown counts the Java processes left: none.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.server import LocalConnectServer
from floe_compute_spark.testing import CLASSIC_MARK, CONNECT_SERVER_MARK, java_processes, wait_for
from floe_tui.compute import ComputeConfig, QueryOutcome

#: Every classic target of the run uses this master (one JVM per process) and only settings Spark
#: can change at run time, so other tests' classic targets in the same process can share the JVM.
CLASSIC = {"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": "4"}}
TOKEN_ENV = "FLOE_SPARK_TEST_CONNECT_TOKEN"


def classic_config(name: str = "spark", **fields: Any) -> ComputeConfig:
    """A classic target that the run's JVM can serve (same master and start-up settings)."""
    connection = {**CLASSIC, **fields.pop("connection", {})}
    return ComputeConfig.from_mapping({"name": name, "connection": connection, **fields})


@pytest.fixture(scope="session")
def classic_target() -> Callable[..., ComputeConfig]:
    """`classic_target(name, connection={...}, pool={...})`: a target the run's JVM can serve."""
    return classic_config


@pytest.fixture(scope="session")
def spark_runtime() -> Iterator[SparkComputePlugin]:
    """The run's classic JVM, held by an anchor target; warmed up so latencies are steady-state."""
    anchor = SparkComputePlugin(classic_config("anchor"))
    anchor.connect()
    for _ in range(40):  # the first queries of a JVM are slow (class loading, JIT)
        assert anchor.execute("SELECT 1", timeout=60).wait(60) is QueryOutcome.COMPLETED
    yield anchor
    anchor.disconnect()
    assert wait_for(lambda: not java_processes(CLASSIC_MARK), 30), "a classic Spark JVM was left running"


@pytest.fixture(scope="session")
def connect_server() -> Iterator[LocalConnectServer]:
    """A Spark Connect server (local[2], token-protected) for the run; its token in TOKEN_ENV."""
    token = "tok-" + secrets.token_hex(12)
    server = LocalConnectServer(token=token, conf={"spark.sql.shuffle.partitions": "4"})
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = token
    server.start()
    try:
        yield server
    finally:
        server.stop(remove_log=True)
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
    assert wait_for(lambda: not java_processes(CONNECT_SERVER_MARK), 30), (
        "the Connect server was left running"
    )


def connect_config(server: LocalConnectServer, name: str = "sc", **fields: Any) -> ComputeConfig:
    """A Spark Connect target on the run's server, its token by reference."""
    connection = {"remote": server.url, "ui_url": server.ui_url, **fields.pop("connection", {})}
    credentials = fields.pop("credentials", {"token": {"env": TOKEN_ENV}})
    return ComputeConfig.from_mapping(
        {"name": name, "connection": connection, "credentials": credentials, **fields}
    )


@pytest.fixture(scope="session")
def remote_target(connect_server: LocalConnectServer) -> Callable[..., ComputeConfig]:
    """`remote_target(name, connection={...}, credentials={...})`: a target on the run's Connect server."""

    def make(name: str = "sc", **fields: Any) -> ComputeConfig:
        return connect_config(connect_server, name, **fields)

    return make


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def open_plugin() -> Iterator[Callable[[ComputeConfig], SparkComputePlugin]]:
    """Connect a plugin for one test; disconnect it afterwards and check that its pool is empty."""
    opened: list[SparkComputePlugin] = []

    def open_(config: ComputeConfig) -> SparkComputePlugin:
        plugin = SparkComputePlugin(config)
        opened.append(plugin)
        plugin.connect()
        return plugin

    yield open_
    for plugin in opened:
        plugin.disconnect()
        stats = plugin.pool_stats()
        assert (stats.size, stats.in_use, stats.created - stats.closed) == (0, 0, 0), stats


@pytest.fixture
def query() -> Callable[..., list[dict[str, Any]]]:
    """`query(plugin, sql, limit=...)`: run to completion, rows as dicts."""

    def run(plugin: SparkComputePlugin, sql: str, **kwargs: Any) -> list[dict[str, Any]]:
        handle = plugin.execute(sql, timeout=kwargs.pop("timeout", 60), **kwargs)
        return list(handle.fetch_all().to_pylist())

    return run
