"""What the reliability suite's tests share besides fixtures: canaries, engines, manifests, counters.

The fixtures that hand these out are in ``conftest.py`` (its docstring describes the budget).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from floe_tui.compute import ComputeConfig, ComputePlugin
from floe_tui.testing.servers import free_port, wait_for

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[1]
NETGUARD = HERE / "netguard"
#: The distinctive part of every canary credential: it must appear in no output of any kind.
CANARY_CORE = "c4n4ry9f1e7d3b"


def canary(kind: str) -> str:
    return f"floe-{CANARY_CORE}-{kind}"


#: Every credential variable the suite's manifests reference, each holding a canary.
CREDENTIALS = {
    "FAULTS_DUCKDB_S3_KEY_ID": canary("s3-key-id"),
    "FAULTS_DUCKDB_S3_SECRET": canary("s3-secret"),
    "FAULTS_SPARK_TOKEN": canary("spark-token"),
    "FAULTS_SNOWFLAKE_PASSWORD": canary("snowflake-password"),
    "FAULTS_BIGQUERY_TOKEN": canary("bigquery-token"),
    "FAULTS_DATABRICKS_TOKEN": canary("databricks-token"),
}
SERVER_ENGINES = ("spark", "snowflake", "bigquery")
#: Where child processes record connection attempts to non-loopback addresses.
NETLOG = Path(tempfile.mkdtemp(prefix="floe-faults-net-")) / "refused.log"
REFUSED_HERE: list[str] = []


# -- recovery figures -----------------------------------------------------------------------------
@dataclass
class Figure:
    fault: str
    engine: str
    outcome: str
    seconds: float | None
    what: str = ""


FIGURES: list[Figure] = []


# -- no network beyond loopback -------------------------------------------------------------------
def is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX and friends
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name other than localhost would need a lookup first


def child_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The environment of a child process: the suite's, the network guard, no exporter unless asked."""
    env = {k: v for k, v in base.items() if not k.startswith("OTEL_")}
    path = os.pathsep.join(p for p in (str(NETGUARD), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "FLOE_FAULTS_NETLOG": str(NETLOG), **extra}


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


# -- servers ----------------------------------------------------------------------------------
class ConnectServer:
    """The Spark Connect server behind the ServerProcess verbs the tests use (kill, pause, ...).

    pyspark's launcher execs the JVM, so the child PID is the server itself.
    """

    def __init__(self, token: str) -> None:
        from floe_compute_spark.server import LocalConnectServer

        self.server = LocalConnectServer(
            token=token,
            conf={"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "true"},
            start_timeout_s=120,
        )
        self.name = "spark-connect"

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def running(self) -> bool:
        return self.server.running

    def start(self) -> ConnectServer:
        self.server.start()
        return self

    def kill(self) -> None:
        process = self.server.process
        assert process is not None and process.poll() is None, "the Connect server is not running"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(20)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def restart(self) -> ConnectServer:
        if self.running:
            self.server.stop()
        return self.start()

    def close(self) -> None:
        if self.server.process is not None and self.server.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.process.pid, signal.SIGCONT)
        self.server.stop(remove_log=True)


@dataclass
class ServerEngine:
    """One engine with a server process of its own, as every fault test drives it."""

    name: str
    server: Any  # ServerProcess, or ConnectServer for Spark
    plugin_class: type[ComputePlugin]
    #: SQL that keeps the server busy for far longer than any test waits.
    long_sql: str
    target: Callable[..., dict[str, Any]]
    prepare: Callable[[], None] = lambda: None
    #: "SELECT 1"-like SQL and the rows it gives.
    probe_sql: str = "SELECT 1 AS one"
    probe_rows: list[dict[str, Any]] = field(default_factory=lambda: [{"one": 1}])

    def config(self, name: str | None = None, **fields: Any) -> ComputeConfig:
        return ComputeConfig.from_mapping(self.target(name or self.name, **fields))

    def plugin(self, name: str | None = None, **fields: Any) -> ComputePlugin:
        return self.plugin_class(self.config(name, **fields))

    def restart(self) -> None:
        self.server.restart()
        self.prepare()


def _merge(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _spark_engine() -> ServerEngine:
    from floe_compute_spark import SparkComputePlugin

    server = ConnectServer(CREDENTIALS["FAULTS_SPARK_TOKEN"]).start()

    def target(name: str, **fields: Any) -> dict[str, Any]:
        base = {
            "name": name,
            "plugin": "spark",
            "connection": {"remote": server.server.url, "ui_url": server.server.ui_url},
            "credentials": {"token": {"env": "FAULTS_SPARK_TOKEN"}},
            "pool": {"size": 2, "connect_timeout_s": 60, "acquire_timeout_s": 60},
        }
        return _merge(base, fields)

    engine = ServerEngine(
        "spark",
        server,
        SparkComputePlugin,
        "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3",
        target,
    )
    warm_up(engine)
    return engine


def warm_up(engine: ServerEngine, queries: int = 8) -> None:
    """A fresh JVM answers its first queries slowly (class loading, JIT): make later latencies steady."""
    with engine.plugin(f"{engine.name}_warm_up", pool={"size": 1}) as plugin:
        for _ in range(queries):
            assert plugin.execute(engine.probe_sql, timeout=120).wait(120).value == "completed"


def _snowflake_engine() -> ServerEngine:
    from floe_compute_snowflake import SnowflakeComputePlugin
    from floe_compute_snowflake.testing import DATABASE, SCHEMA, fakesnow_server

    server = fakesnow_server().start()

    def target(name: str, **fields: Any) -> dict[str, Any]:
        base = {
            "name": name,
            "plugin": "snowflake",
            "connection": {
                "account": "fakesnow",
                "user": "floe",
                "database": DATABASE,
                "schema": SCHEMA,
                "host": "127.0.0.1",
                "port": server.port,
                "protocol": "http",
            },
            "credentials": {"password": {"env": "FAULTS_SNOWFLAKE_PASSWORD"}},
            "pool": {"size": 2, "connect_timeout_s": 10, "acquire_timeout_s": 30},
        }
        return _merge(base, fields)

    return ServerEngine(
        "snowflake",
        server,
        SnowflakeComputePlugin,
        "SELECT sum(seq4()) AS s FROM TABLE(generator(rowcount => 100000000000))",
        target,
        probe_rows=[{"ONE": 1}],
    )


def _bigquery_engine() -> ServerEngine:
    from floe_compute_bigquery import BigQueryComputePlugin
    from floe_compute_bigquery.testing import (
        DATASET,
        LONG_RUNNING_SQL,
        PROJECT,
        create_dataset,
        crucible_server,
    )

    server = crucible_server().start()
    create_dataset(server)

    def target(name: str, **fields: Any) -> dict[str, Any]:
        base = {
            "name": name,
            "plugin": "bigquery",
            "connection": {"project": PROJECT, "dataset": DATASET, "api_endpoint": server.base_url},
            "credentials": {"token": {"env": "FAULTS_BIGQUERY_TOKEN"}},
            "pool": {"size": 2, "connect_timeout_s": 10, "acquire_timeout_s": 30},
        }
        return _merge(base, fields)

    return ServerEngine(
        "bigquery",
        server,
        BigQueryComputePlugin,
        LONG_RUNNING_SQL,
        target,
        prepare=lambda: create_dataset(server),
    )


class Servers:
    """The suite's servers, each started on first use (or in the background by `prestart`) and
    stopped at the end of the package."""

    makers: dict[str, Callable[[], ServerEngine]] = {
        "spark": _spark_engine,
        "snowflake": _snowflake_engine,
        "bigquery": _bigquery_engine,
    }

    def __init__(self) -> None:
        self._engines: dict[str, ServerEngine] = {}
        self._lock = threading.Lock()
        self._starting: dict[str, threading.Thread] = {}
        self._failed: dict[str, BaseException] = {}
        self.start_s: dict[str, float] = {}

    def prestart(self, name: str) -> None:
        """Start `name` on a thread now (a JVM takes 10-30 s): tests that wait on timeouts run meanwhile."""
        with self._lock:
            if name in self._engines or name in self._starting:
                return
            thread = threading.Thread(target=self._start, args=(name,), name=f"prestart-{name}", daemon=True)
            self._starting[name] = thread
        thread.start()

    def _start(self, name: str) -> None:
        started = time.monotonic()
        try:
            engine = self.makers[name]()
        except BaseException as exc:  # reported by get()
            self._failed[name] = exc
            return
        with self._lock:
            self._engines[name] = engine
            self.start_s[name] = time.monotonic() - started

    def get(self, name: str) -> ServerEngine:
        starting = self._starting.get(name)
        if starting is not None:
            starting.join()
        if name in self._failed:
            raise self._failed[name]
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                started = time.monotonic()
                engine = self._engines[name] = self.makers[name]()
                self.start_s[name] = time.monotonic() - started
            elif not engine.server.running:  # a test that failed half-way left it down: bring it back
                engine.restart()
            return engine

    def stop(self, name: str) -> None:
        """Stop one server now (a JVM idles on the cores the later tests need); `get` starts it again."""
        starting = self._starting.pop(name, None)
        if starting is not None:
            starting.join()
        with self._lock:
            engine = self._engines.pop(name, None)
        if engine is not None:
            with contextlib.suppress(Exception):
                engine.server.close()

    def close(self) -> None:
        for thread in list(self._starting.values()):
            thread.join()
        for engine in self._engines.values():
            with contextlib.suppress(Exception):
                engine.server.close()
        self._engines.clear()


#: The package's servers while its tests run (for the hook that stops the JVM after its last test).
ACTIVE: list[Servers] = []


def run_order(item: Any) -> int:
    """Tests without Spark first (the JVM starts in the background meanwhile; most of them wait on
    timeouts and child processes), then those with Spark, then the CPU-bound fuzzing, once the
    JVM is stopped."""
    if needs_spark(item):
        return 1
    return 2 if str(getattr(item, "path", "")).endswith("test_manifest_fuzz.py") else 0


def needs_spark(item: Any) -> bool:
    """Whether a collected test uses the Spark Connect server."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "spark" in callspec.params.values():
        return True
    return "all_server_engines" in getattr(item, "fixturenames", ())


# -- manifests --------------------------------------------------------------------------------
DUCKDB_TARGET: dict[str, Any] = {
    "name": "duckdb",
    "plugin": "duckdb",
    "connection": {"path": ":memory:", "threads": 1, "memory_limit": "256MB"},
    "credentials": {
        "s3_key_id": {"env": "FAULTS_DUCKDB_S3_KEY_ID"},
        "s3_secret": {"env": "FAULTS_DUCKDB_S3_SECRET"},
    },
    "pool": {"size": 2, "acquire_timeout_s": 10},
}


def databricks_target() -> dict[str, Any]:
    """Databricks on a closed loopback port: everything offline works, a connect is refused at once."""
    return {
        "name": "databricks",
        "plugin": "databricks",
        "connection": {
            "host": "127.0.0.1",
            "port": free_port(),
            "http_path": "/sql/1.0/warehouses/0123456789abcdef",
            "catalog": "main",
            "schema": "analytics",
        },
        "credentials": {"token": {"env": "FAULTS_DATABRICKS_TOKEN"}},
        "pool": {"size": 1, "connect_timeout_s": 3, "acquire_timeout_s": 3},
    }


def write_tree(
    root: Path,
    targets: list[dict[str, Any]],
    *,
    broken_product: bool = False,
    query_timeout_s: float = 30,
    extra_enterprise: str = "",
) -> Path:
    """enterprise.yaml approving `targets`, domain `ops`, product `orders` using every target
    (and with `broken_product`, product `leaky` with two unapproved computes: FLOE-E300 twice)."""
    root.mkdir(parents=True, exist_ok=True)
    names = [t["name"] for t in targets]
    enterprise = {
        "apiVersion": "floe.dev/v1",
        "kind": "Manifest",
        "metadata": {"name": "faultco", "scope": "enterprise", "owner": "platform@faultco.example"},
        "environments": ["dev", "prod"],
        "compute": {"approved": targets, "default": names[0], "query_timeout_s": query_timeout_s},
    }
    (root / "enterprise.yaml").write_text(yaml.safe_dump(enterprise, sort_keys=False) + extra_enterprise)
    domain = root / "domains" / "ops"
    (domain / "products" / "orders").mkdir(parents=True, exist_ok=True)
    (domain / "manifest.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: ops, scope: domain}\n"
        "parent: ../../enterprise.yaml\n"
    )
    transforms = "".join(f"  - {{name: t_{n}, compute: {n}}}\n" for n in names)
    (domain / "products" / "orders" / "floe.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: orders}\n"
        "platform: {manifest: ../../manifest.yaml}\n"
        f"compute: {{default: {names[0]}}}\ntransforms:\n{transforms}"
    )
    if broken_product:
        (domain / "products" / "leaky").mkdir(parents=True, exist_ok=True)
        (domain / "products" / "leaky" / "floe.yaml").write_text(
            "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: leaky}\n"
            "platform: {manifest: ../../manifest.yaml}\ntransforms:\n"
            "  - {name: t_ok}\n  - {name: t_bad, compute: not_approved}\n"
            "  - {name: t_worse, compute: not_approved_either}\n"
        )
    return root


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def wait_busy(pid: int, seconds: float = 0.3, deadline_s: float = 60) -> None:
    """Until process `pid` has spent `seconds` more CPU: the statement runs in it (a loaded machine
    only makes this take longer)."""
    start = cpu_seconds(pid)
    wait_for(lambda: cpu_seconds(pid) - start >= seconds, deadline_s, f"process {pid} working on the query")


def ended_at(handle: Any, deadline_s: float) -> float:
    """The monotonic time at which `handle` was seen done (polled every 5 ms)."""
    wait_for(lambda: handle.done, deadline_s, "the query to end", interval_s=0.005)
    return time.monotonic()


# -- the console under Pilot --------------------------------------------------------------------
def status_line(app: Any) -> str:
    """The query screen's status line, as plain text."""
    from textual.widgets import Static

    content = app.screen.query_one("#query-status", Static).content
    return str(getattr(content, "plain", content))


async def until(pilot: Any, condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Let the app run until `condition()` holds; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await pilot.pause(0.02)


# -- counting what a test leaves behind ---------------------------------------------------------
#: Long-lived pools of the core, not leaks: one watchdog, idle reusable workers (exit after 60 s idle).
POOLED_THREADS = ("floe-watchdog", "floe-bounded")


def thread_names() -> list[str]:
    """Python threads alive now; not the entries Python makes for foreign threads (gRPC's C
    threads become `Dummy-N` when they call back, and stay listed after they end: see
    :func:`native_threads` for those)."""
    return sorted(
        t.name for t in threading.enumerate() if t.is_alive() and not isinstance(t, threading._DummyThread)
    )


def native_threads() -> int:
    """Threads of this process as the kernel counts them (C libraries' threads included)."""
    return len(os.listdir("/proc/self/task"))


def leftover_threads(before: list[str]) -> list[str]:
    """Threads alive now that were not before, apart from the core's reusable pools."""
    remaining = list(before)
    extra = []
    for name in thread_names():
        if name in remaining:
            remaining.remove(name)
        elif not name.startswith(POOLED_THREADS):
            extra.append(name)
    return extra


def open_fds() -> set[str]:
    """This process's open file descriptors, as `fd -> target`."""
    found = set()
    for entry in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found.add(f"{entry}->{os.readlink(f'/proc/self/fd/{entry}')}")
    return found


def settle(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """`wait_for`, returning how long the condition took to hold."""
    started = time.monotonic()
    wait_for(condition, timeout_s, what)
    return time.monotonic() - started
