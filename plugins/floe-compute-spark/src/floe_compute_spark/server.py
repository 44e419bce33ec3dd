"""A local Spark Connect server: for development, tests and benchmarks, on a loopback port.

It is pyspark's own server class (``org.apache.spark.sql.connect.service.SparkConnectServer``,
what ``sbin/start-connect-server.sh`` runs) started in the foreground as a child process, so that it
can be stopped for sure: ``stop()`` ends its whole process group. The token, if any, reaches the
server through its environment (``SPARK_CONNECT_AUTHENTICATE_TOKEN``), never its command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from floe_compute_spark.jvm import last_error_line
from floe_compute_spark.preflight import java_major_version
from floe_tui.compute import ConnectionFailedError, ConnectTimeoutError

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalConnectServer:
    """``with LocalConnectServer(token="...") as server: ... server.url ...``"""

    def __init__(
        self,
        *,
        master: str = "local[2]",
        port: int | None = None,
        ui_port: int | None = None,
        token: str | None = None,
        conf: dict[str, str] | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.master = master
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self.token = token
        self.conf = dict(conf or {})
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkdtemp(prefix="floe-spark-connect-")) / "server.log"

    @property
    def url(self) -> str:
        """``sc://localhost:PORT``: the name ``localhost`` lets the client send a token without TLS."""
        return f"sc://localhost:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> LocalConnectServer:
        from pyspark.find_spark_home import _find_spark_home

        if self.running:
            return self
        java_major_version()
        home = _find_spark_home()
        command = [
            str(Path(home) / "bin" / "spark-submit"),
            "--class",
            SERVER_CLASS,
            "--master",
            self.master,
            "--name",
            "floe Spark Connect",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            f"spark.connect.grpc.binding.port={self.port}",
            "--conf",
            f"spark.ui.port={self.ui_port}",
            "--conf",
            "spark.ui.showConsoleProgress=false",
        ]
        for key, value in self.conf.items():
            command += ["--conf", f"{key}={value}"]
        env = {**os.environ, "SPARK_HOME": home, "SPARK_CONNECT_MODE": "0"}
        env.pop("SPARK_REMOTE", None)
        env.pop("SPARK_CONNECT_AUTHENTICATE_TOKEN", None)
        if self.token is not None:
            env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = self.token
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() ends the launcher and the JVM
            )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.process.poll() is not None:
                reason = last_error_line(self.log_path)
                self.process = None
                raise ConnectionFailedError(
                    f"the local Spark Connect server exited during start-up: {reason}",
                    f"see {self.log_path}",
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                self._warm_ui(deadline)
                return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise ConnectTimeoutError(
                    f"the local Spark Connect server did not listen within {self.start_timeout_s:g} s"
                )
            time.sleep(0.1)  # polling a port: there is no event to wait on

    def _warm_ui(self, deadline: float) -> None:
        """Wait (bounded) until the REST API answers: its first request loads a web stack."""
        import urllib.request

        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.ui_url}/api/v1/applications", timeout=10):
                    return
            except OSError:
                time.sleep(0.2)  # polling a port: there is no event to wait on

    def stop(self, timeout: float = 20.0, *, remove_log: bool = False) -> None:
        """End the server's process group; `remove_log` also deletes its log (kept by default)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (the launcher JVM)
            os.killpg(process.pid, signal.SIGKILL)
        if remove_log:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def __enter__(self) -> LocalConnectServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(remove_log=exc_type is None)
