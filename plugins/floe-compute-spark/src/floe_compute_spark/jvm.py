"""The per-process JVM behind every classic Spark target.

A SparkContext is one per process (pyspark keeps it in class attributes, the JVM allows one):
:class:`ClassicRuntime` owns that JVM and SparkContext for the whole process and counts the targets
using it (each gets its own session on it, see :mod:`floe_compute_spark.classic`). The JVM starts
with the first target's ``connect()`` and stops with the last target's ``disconnect()``: no JVM is
left behind. A second classic target in the same process must name the same master and the same
values for settings Spark fixes at start-up. A JVM that died is restarted (with the settings it was
started with) by the next target that needs it.

pyspark is imported when the JVM starts, never at import of this module.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from floe_compute_spark.config import SparkConnection
from floe_compute_spark.engine import Canceller
from floe_compute_spark.errors import first_line, redact
from floe_compute_spark.preflight import preflight
from floe_tui.compute import ConfigError, ConnectionFailedError, ConnectTimeoutError, run_bounded

log = logging.getLogger("floe_compute_spark")
_JVM_STOP_S = 10.0
_LAUNCH_MARK = "spark.floe.launch"


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
            context: Any = run_bounded(  # its py4j handles (_jvm, _jsc) are untyped
                max(0.5, deadline - time.monotonic()),
                lambda: SparkContext(conf=conf, gateway=gateway),
                "starting the SparkContext did not answer",
            )
            root = SparkSession(context)
        except BaseException as exc:
            timed_out = isinstance(exc, ConnectTimeoutError)  # run_bounded gave up on it
            detail = exc.message if isinstance(exc, ConnectTimeoutError) else first_line(exc)
            reason = redact(last_error_line(log_path) or detail, values)
            _shutdown_gateway(gateway, process)
            _reset_pyspark_globals()
            if timed_out:
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
                "the Spark JVM did not start",
            )
        except ConnectTimeoutError:
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
                    run_bounded(_JVM_STOP_S, context.stop, "stopping the SparkContext did not finish")
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
