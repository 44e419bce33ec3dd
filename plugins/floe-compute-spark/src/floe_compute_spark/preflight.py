"""Checks before a Spark start: what Spark would only find out slowly, found out in a second.

A classic start with no usable Java fails deep inside ``spark-class`` with a message that does not
say so; a master (standalone, Kubernetes) or a Spark Connect server that is not reachable is retried
by Spark for minutes. Both are checked here first, with a hint. Imports no pyspark.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from floe_compute_spark.config import SparkConnection
from floe_tui.compute import ConfigError, ConnectionFailedError

MIN_JAVA = 17
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_java_checked: int | None = None
_java_lock = threading.Lock()


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
