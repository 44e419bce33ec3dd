"""The two engines behind a Spark target: a classic session in this process, or Spark Connect.

Classic. A SparkContext is one per process (pyspark keeps it in class attributes, the JVM allows
one): :class:`ClassicRuntime` owns that JVM and SparkContext for the whole process and counts the
targets using it. Each classic target gets its own SparkSession on it (``newSession()``: its own
SQL settings, temporary views and functions; shared cached data and catalog). The JVM starts
with the first target's ``connect()`` and stops with the last target's ``disconnect()``: no JVM
is left behind. A second classic target in the same process must name the same master and the same
values for settings Spark fixes at start-up; settings Spark can change at run time (SQL settings,
catalogs) are applied to the target's own session, so two targets do not see each other's.

Spark Connect. Each target opens its own session on the server (``SparkSession.builder.create()``
with a channel builder carrying the token); stopping it releases that session only.

Jobs are stopped per query: classic queries run under a job group that is set in the thread that
runs the query (``setJobGroup``, a thread-local property inherited by the driver thread that serves
the result) and cancelled from another thread (``cancelJobGroup``); Spark Connect queries carry a
tag (``addTag``, per thread too) that ``interruptTag`` stops. Cancels are sent by one canceller thread
per engine, so ``interrupt()`` never blocks its caller.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from floe_compute_spark.config import SparkConnection
from floe_compute_spark.errors import conf_error, first_line, is_connection_error, redact
from floe_tui.compute import ConfigError, ConnectionFailedError, ConnectTimeoutError

log = logging.getLogger("floe_compute_spark")
MIN_JAVA = 17
_JVM_STOP_S = 10.0
_LAUNCH_MARK = "spark.floe.launch"
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_java_checked: int | None = None
_java_lock = threading.Lock()

# pyspark warns once per process that it does not yet support pandas 3; nothing here uses pandas.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
# The Connect client warns on stderr when it gives up retrying; the error itself is reported.
warnings.filterwarnings("ignore", message=r"\[RETRIES_EXCEEDED\]", category=UserWarning)


@dataclass(frozen=True)
class ExecutorMemory:
    """One block manager (the driver or an executor): Spark's storage memory, as the Spark UI shows."""

    executor_id: str
    used_bytes: int
    max_bytes: int
    disk_bytes: int


# -- helpers ---------------------------------------------------------------------------------
def java_major_version() -> int:
    """The major version of the `java` Spark will run (JAVA_HOME first, as spark-class does)."""
    global _java_checked
    with _java_lock:
        if _java_checked is not None:
            return _java_checked
        home = os.environ.get("JAVA_HOME")
        java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
        if not java or not Path(java).exists():
            raise ConnectionFailedError(
                "no Java runtime found (Spark needs Java 17 or newer)",
                "run plugins/floe-compute-spark/ensure-java.sh or apt-get install default-jre-headless",
            )
        try:
            run = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConnectionFailedError(
                f"the Java runtime does not start ({type(exc).__name__})",
                "check JAVA_HOME and the java on PATH",
            ) from None
        match = _JAVA_VERSION.search(run.stderr + run.stdout)
        if not match:
            raise ConnectionFailedError("cannot tell the Java runtime's version", "install Java 17 or newer")
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_392"
            major = int(match.group(2))
        if major < MIN_JAVA:
            raise ConnectionFailedError(
                f"Spark 4 needs Java {MIN_JAVA} or newer; found Java {major}",
                "install Java 17+ (plugins/floe-compute-spark/ensure-java.sh) or point JAVA_HOME at one",
            )
        _java_checked = major
        return major


def check_reachable(endpoints: list[tuple[str, int]], deadline: float, what: str) -> None:
    """Fail fast when no endpoint accepts a TCP connection (Spark itself would retry for minutes)."""
    errors = []
    for host, port in endpoints:
        budget = max(0.2, min(5.0, deadline - time.monotonic()))
        try:
            socket.create_connection((host, port), timeout=budget).close()
            return
        except OSError as exc:
            errors.append(type(exc).__name__)
    where = ", ".join(f"{host}:{port}" for host, port in endpoints)
    raise ConnectionFailedError(
        f"{what} at {where} is not reachable ({', '.join(sorted(set(errors)))})",
        "check the host and port, and that the service is running and reachable from here",
    )


def preflight(connection: SparkConnection, deadline: float) -> None:
    """What Spark would only find out slowly (or after minutes of retries), checked in a second."""
    java_major_version()
    master = connection.effective_master
    if master == "yarn" and not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
        raise ConfigError(
            "master yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR in the environment",
            "export HADOOP_CONF_DIR=/etc/hadoop/conf (the cluster's client configuration)",
        )
    endpoints = connection.master_endpoints()
    if endpoints:
        kind = "the Kubernetes API server" if master.startswith("k8s") else "the Spark master"
        check_reachable(endpoints, deadline, kind)


class Canceller:
    """One daemon thread that sends cancels, so that whoever cancels never waits on the engine."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, action: Callable[[], None]) -> None:
        self._queue.put(action)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            action = self._queue.get()
            if action is None:
                return
            try:
                action()
            except Exception as exc:  # a cancel that finds nothing to stop is not an error
                log.debug("a Spark cancel failed: %s", type(exc).__name__)


def run_bounded(seconds: float, action: Callable[[], Any], what: str) -> Any:
    """Run `action` on a daemon thread and give up after `seconds` (the action is abandoned)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="floe-spark-call", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise TimeoutError(f"{what} did not answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# -- the classic runtime: one JVM and SparkContext per process --------------------------------------
class ClassicRuntime:
    """The process's JVM, SparkContext and root session, shared by the classic targets using it."""

    _instance: ClassicRuntime | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> ClassicRuntime:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._users: set[int] = set()
        self.master: str | None = None
        self.app_name: str | None = None
        self.launch_conf: dict[str, str] = {}
        self.generation = 0
        self.gateway: Any = None
        self.process: subprocess.Popen[bytes] | None = None
        self.context: Any = None
        self.root: Any = None
        self.log_path: Path | None = None
        self.canceller: Canceller | None = None
        self._modifiable: dict[str, bool] = {}
        self.lossless_arrow_types = False
        self.arrow_utils: Any = None
        self.python_rdd: Any = None
        self.arrow_converters: Any = None
        self.array_ops: Any = None

    # -- users -------------------------------------------------------------------------------
    @property
    def users(self) -> int:
        with self._lock:
            return len(self._users)

    def attach(self, user: object, connection: SparkConnection, deadline: float) -> int:
        """Start the runtime for `connection`, or check that the running one can serve it."""
        with self._lock:
            if self.context is not None and self.failure() is not None:
                if self._users - {id(user)}:
                    self.revive(deadline)  # others use it: bring it back with its own settings
                else:
                    self._stop_locked()  # nobody else uses it: start afresh for this target
            if self.context is None:
                self._start_locked(connection, deadline)
            else:
                self._check_compatible(connection)
            self._users.add(id(user))
            return self.generation

    def detach(self, user: object) -> None:
        with self._lock:
            self._users.discard(id(user))
            if not self._users:
                self._stop_locked()

    def revive(self, deadline: float) -> int:
        """Restart a runtime whose JVM died (same master and settings); return the new generation."""
        with self._lock:
            if self.context is not None and self.failure() is None:
                return self.generation
            if self.master is None:
                raise ConnectionFailedError("the classic Spark runtime is not started", "connect first")
            settings = SparkConnection(master=self.master, app_name=self.app_name or "floe-tui")
            conf = dict(self.launch_conf)
            self._stop_locked()
            self._start_locked(settings.model_copy(update={"conf": conf}), deadline)
            return self.generation

    # -- health ------------------------------------------------------------------------------
    def failure(self) -> str | None:
        """None while the JVM answers; else why it does not."""
        process = self.process
        if self.context is None or process is None:
            return "the Spark JVM is not running"
        code = process.poll()
        if code is not None:
            return f"the Spark JVM (pid {process.pid}) exited with code {code}{self._log_reason()}"
        try:
            stopped = bool(self.context._jsc.sc().isStopped())
        except Exception as exc:
            return f"the Spark JVM (pid {process.pid}) does not answer ({type(exc).__name__})"
        if stopped:
            return f"the SparkContext was stopped{self._log_reason()}"
        return None

    def _log_reason(self) -> str:
        reason = last_error_line(self.log_path)
        values = list(self.launch_conf.values())
        return f": {redact(reason, values)}" if reason else ""

    def is_modifiable(self, key: str) -> bool:
        """Whether Spark lets a session change `key` at run time (SQL settings, catalogs)."""
        if key not in self._modifiable:
            self._modifiable[key] = bool(self.root._jsparkSession.conf().isModifiable(key))
        return self._modifiable[key]

    # -- start and stop ----------------------------------------------------------------------
    def _check_compatible(self, connection: SparkConnection) -> None:
        if connection.effective_master != self.master:
            raise ConfigError(
                f"this process already runs a classic Spark session on master {self.master}; "
                "a process has one SparkContext",
                "give classic Spark targets used together the same master, or use Spark Connect (remote)",
            )
        running = self.context.getConf()
        for key, value in connection.conf.items():
            if self.is_modifiable(key):
                continue
            if running.get(key, None) != value:
                raise ConfigError(
                    f"conf `{key}` differs from the classic Spark session already running in this "
                    "process; it is fixed when the SparkContext starts",
                    "use the same value in every classic Spark target of a process, or use Spark Connect",
                )

    def _start_locked(self, connection: SparkConnection, deadline: float) -> None:
        preflight(connection, deadline)
        from pyspark import SparkConf, SparkContext
        from pyspark.sql import SparkSession

        if SparkContext._active_spark_context is not None:
            raise ConfigError(
                "a SparkContext that floe did not start is already running in this process",
                "stop it first, or reach that Spark through Spark Connect (remote)",
            )
        mark = uuid.uuid4().hex
        log_dir = Path(tempfile.mkdtemp(prefix="floe-spark-"))
        log_path = log_dir / "driver.log"
        conf = SparkConf(loadDefaults=False)
        conf.setMaster(connection.effective_master).setAppName(connection.app_name)
        conf.set("spark.ui.showConsoleProgress", "false")
        conf.set(_LAUNCH_MARK, mark)
        for key, value in connection.conf.items():
            conf.set(key, value)
        values = list(connection.conf.values())
        log_file = log_path.open("wb")
        try:
            gateway = self._launch(conf, log_file, mark, deadline, log_path, values)
        finally:
            log_file.close()
        process = gateway.proc
        try:
            context = run_bounded(
                max(0.5, deadline - time.monotonic()),
                lambda: SparkContext(conf=conf, gateway=gateway),
                "starting the SparkContext",
            )
            root = SparkSession(context)
        except BaseException as exc:
            reason = redact(last_error_line(log_path) or first_line(exc), values)
            _shutdown_gateway(gateway, process)
            _reset_pyspark_globals()
            if isinstance(exc, TimeoutError):
                raise ConnectTimeoutError(
                    f"the SparkContext did not start before connect_timeout_s ({reason})"
                ) from None
            raise ConfigError(
                f"Spark refused to start the session: {reason}",
                "check master and conf; the driver log is " + str(log_path),
            ) from None
        self.gateway, self.process, self.context, self.root = gateway, process, context, root
        self.master, self.app_name = connection.effective_master, connection.app_name
        self.launch_conf = dict(connection.conf)
        self.log_path = log_path
        self.generation += 1
        self._modifiable = {}
        self.canceller = Canceller("floe-spark-cancel")
        jvm = context._jvm
        # Class handles cached once: every hop of `jvm.a.b.C` is a round trip to the JVM.
        self.arrow_utils = jvm.org.apache.spark.sql.util.ArrowUtils
        self.python_rdd = jvm.PythonRDD
        self.arrow_converters = _module(jvm, "org.apache.spark.sql.execution.arrow.ArrowConverters")
        self.array_ops = _module(jvm, "scala.collection.ArrayOps")
        self.lossless_arrow_types = bool(getattr(self.arrow_utils, "toArrowSchema$default$5")())
        log.info("started the classic Spark runtime (master %s, pid %s)", self.master, process.pid)

    @staticmethod
    def _launch(
        conf: Any, log_file: Any, mark: str, deadline: float, log_path: Path, values: list[str]
    ) -> Any:
        """pyspark's launch_gateway, bounded by the deadline: a JVM that hangs is killed."""
        from pyspark.java_gateway import launch_gateway

        popen = {"stdout": log_file, "stderr": subprocess.STDOUT, "start_new_session": True}
        try:
            return run_bounded(
                max(0.5, deadline - time.monotonic()),
                lambda: launch_gateway(conf, popen_kwargs=popen),  # type: ignore[no-untyped-call]
                "the Spark JVM",
            )
        except TimeoutError:
            _kill_marked(mark)
            raise ConnectTimeoutError("the Spark JVM did not start within connect_timeout_s") from None
        except Exception as exc:
            reason = redact(last_error_line(log_path) or first_line(exc), values)
            raise ConfigError(
                f"the Spark JVM did not start: {reason}",
                "check conf (memory sizes, java options) and Java 17+; the driver log is " + str(log_path),
            ) from None

    def _stop_locked(self) -> None:
        context, gateway, process = self.context, self.gateway, self.process
        self.context = self.root = self.gateway = self.process = None
        if self.canceller is not None:
            self.canceller.stop()
            self.canceller = None
        if context is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    run_bounded(_JVM_STOP_S, context.stop, "stopping the SparkContext")
                except Exception as exc:  # a dead JVM cannot stop its context: the process goes anyway
                    log.debug("stopping the SparkContext failed: %s", type(exc).__name__)
        if gateway is not None:
            _shutdown_gateway(gateway, process)
        _reset_pyspark_globals()
        if process is not None:
            log.info("stopped the classic Spark runtime (pid %s)", process.pid)
        if self.log_path is not None:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)  # a clean stop keeps no log
            self.log_path = None


def _module(jvm: Any, name: str) -> Any:
    """A Scala object (its ``MODULE$`` instance), for objects without static forwarders."""
    return getattr(getattr(jvm, name + "$"), "MODULE$")


def _shutdown_gateway(gateway: Any, process: subprocess.Popen[bytes] | None) -> None:
    with contextlib.suppress(Exception):
        gateway.shutdown()
    if process is None:
        return
    with contextlib.suppress(Exception):
        if process.stdin is not None:
            process.stdin.close()  # the gateway server exits when its stdin closes
    try:
        process.wait(_JVM_STOP_S)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(_JVM_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_JVM_STOP_S)


def _reset_pyspark_globals() -> None:
    """Forget the stopped JVM so that the next SparkContext launches a new one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    with contextlib.suppress(Exception):
        from pyspark.sql.context import SQLContext

        SQLContext._instantiatedContext = None


def _kill_marked(mark: str) -> None:
    """Kill the JVM whose command line carries our launch mark (pyspark keeps its Popen to itself)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(mark in part for part in child.cmdline()):
                child.kill()


def last_error_line(path: Path | None) -> str:
    """The most telling line of a JVM log: the last error or exception line, else the last line."""
    if path is None or not path.exists():
        return ""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-400:]
    except OSError:
        return ""
    lines = [line.strip() for line in lines if line.strip() and not line.startswith(("\tat ", "at "))]
    markers = ("Error", "Exception", "ERROR", "Invalid", "Could not", "Caused by")
    for line in reversed(lines):
        if any(marker in line for marker in markers) and "WARN" not in line[:40]:
            return line[:300]
    return lines[-1][:300] if lines else ""


# -- per-target engines ----------------------------------------------------------------------
_slot_ids = itertools.count(1)


class ClassicEngine:
    """A classic target: its own SparkSession on the process's runtime."""

    mode = "classic"

    def __init__(self, target: str, connection: SparkConnection) -> None:
        self.target = target
        self.connection = connection
        self.runtime = ClassicRuntime.get()
        self.session: Any = None
        self.generation = -1
        self._lock = threading.Lock()
        self._attached = False

    @property
    def description(self) -> str:
        return f"the Spark JVM (master {self.connection.effective_master})"

    def open(self, deadline: float) -> None:
        preflight(self.connection, deadline)
        generation = self.runtime.attach(self, self.connection, deadline)
        self._attached = True
        try:
            self._new_session(generation)
        except BaseException:
            self.close()
            raise

    def _new_session(self, generation: int) -> None:
        runtime = self.runtime
        session = runtime.root.newSession()
        for key, value in self.connection.conf.items():
            if runtime.is_modifiable(key):
                try:
                    session._jsparkSession.conf().set(key, value)
                except Exception as exc:
                    raise conf_error(key, exc) from None
        # Run-time settings another target started the runtime with are not ours: back to defaults.
        for key in runtime.launch_conf.keys() - self.connection.conf.keys():
            if runtime.is_modifiable(key):
                session._jsparkSession.conf().unset(key)
        self.session, self.generation = session, generation

    def ensure_open(self, deadline: float) -> None:
        """Reconnect after the JVM died: restart it (once for every target) and open a new session."""
        with self._lock:
            if self.generation == self.runtime.generation and self.failure() is None:
                return
            generation = self.runtime.revive(deadline)
            self._new_session(generation)

    def failure(self) -> str | None:
        if not self._attached:
            return "not connected"
        reason = self.runtime.failure()
        if reason is None and self.generation != self.runtime.generation:
            return "the Spark JVM was restarted"
        return reason

    def close(self) -> None:
        if self._attached:
            self._attached = False
            self.session = None
            self.runtime.detach(self)

    def cancel(self, group: str) -> None:
        canceller, context = self.runtime.canceller, self.runtime.context
        if canceller is not None and context is not None:
            canceller.submit(lambda: context._jsc.cancelJobGroup(group))

    def memory(self) -> list[ExecutorMemory] | None:
        context = self.runtime.context
        if context is None:
            return None
        summaries = context._jsc.sc().statusStore().executorList(True)
        found = []
        for index in range(summaries.size()):
            item = summaries.apply(index)
            found.append(
                ExecutorMemory(
                    str(item.id()), int(item.memoryUsed()), int(item.maxMemory()), int(item.diskUsed())
                )
            )
        return found


#: Session settings a Spark Connect target gets unless its `conf` says otherwise.
#: Adaptive query execution is off: Spark Connect cancels by interrupting the operation's thread,
#: and a stage that adaptive execution is submitting at that moment (on another thread) is left
#: running on the server with nobody to stop it (measured here: 2 of 5 cancels within 60 ms of the
#: start left a job burning both cores; 0 of 5 without adaptive execution). Classic sessions keep
#: it: their job group is cancelled again until the query's call returns.
CONNECT_DEFAULTS = {"spark.sql.adaptive.enabled": "false"}


class ConnectEngine:
    """A Spark Connect target: its own session on the server."""

    mode = "connect"
    #: Retries of a failed gRPC call: 50 ms, 200 ms, 800 ms; pyspark's default waits up to 10 minutes.
    RETRIES = {"max_retries": 3, "initial_backoff": 50, "backoff_multiplier": 4.0, "max_backoff": 1000}

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
                self.description,
            )
            settings = {**CONNECT_DEFAULTS, **connection.conf}
            for key, value in settings.items():
                try:
                    session.conf.set(key, value)
                except Exception as exc:
                    if is_connection_error(exc):
                        raise
                    raise conf_error(key, exc) from None
        except TimeoutError:
            _stop_quietly(session)
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

    def failure(self, timeout: float | None = None) -> str | None:
        """None while the server answers on our session (one small RPC); else why not."""
        session = self.session
        if session is None:
            return "not connected"

        def ping() -> None:
            session.client._analyze(method="spark_version")

        try:
            if timeout is None:
                ping()
            else:
                run_bounded(timeout, ping, self.description)
        except TimeoutError:
            return f"{self.description} did not answer within {timeout:g} s"
        except Exception as exc:
            return f"{self.description} is not answering: {_grpc_reason(exc)}"
        return None

    def close(self) -> None:
        session, self.session = self.session, None
        if self._canceller is not None:
            self._canceller.stop()
            self._canceller = None
        if session is not None:
            with contextlib.suppress(TimeoutError):
                run_bounded(5.0, lambda: _stop_quietly(session), "releasing the Spark Connect session")

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


def _stop_quietly(session: Any) -> None:
    with contextlib.suppress(Exception):
        session.stop()


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
