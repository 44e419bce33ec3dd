"""Run in a fresh interpreter: a classic target's JVM from refused start to restart and shutdown.

Prints one JSON object of facts; tests/integration/test_spark_process.py checks them one by one.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.jvm import ClassicRuntime
from floe_compute_spark.testing import CLASSIC_MARK, java_processes, wait_for
from floe_tui.compute import ComputeConfig, ComputeError

facts: dict[str, Any] = {}


def target(**connection: Any) -> ComputeConfig:
    return ComputeConfig.from_mapping(
        {
            "name": "spark",
            "connection": {"master": "local[1]", "conf": {"spark.ui.enabled": "false"}, **connection},
            "pool": {"size": 1, "acquire_timeout_s": 120, "connect_timeout_s": 120},
        }
    )


facts["modules_before_connect"] = sorted(m for m in sys.modules if m.split(".")[0] in {"pyspark", "py4j"})
facts["jvms_before_connect"] = len(java_processes())

# A start-up setting the JVM itself rejects.
bad = SparkComputePlugin(target(conf={"spark.ui.enabled": "false", "spark.driver.memory": "lots"}))
started = time.monotonic()
try:
    bad.connect()
    facts["bad_conf"] = None
except ComputeError as exc:
    facts["bad_conf"] = {"code": exc.code, "message": exc.message, "hint": exc.hint}
    # A refused start keeps its driver log for diagnosis (the hint names it); this run needs it no more.
    log = Path(exc.hint.rsplit(" ", 1)[-1])
    if log.name == "driver.log":
        shutil.rmtree(log.parent, ignore_errors=True)
facts["bad_conf_s"] = time.monotonic() - started
facts["jvms_after_bad_conf"] = len(java_processes(CLASSIC_MARK))

plugin = SparkComputePlugin(target())
started = time.monotonic()
plugin.connect()
facts["connect_s"] = time.monotonic() - started
facts["jvms_after_connect"] = len(java_processes(CLASSIC_MARK))
facts["first_query"] = plugin.execute("SELECT 1 AS one", timeout=60).fetch_all().to_pylist()

# The JVM dies under the target.
runtime_process = ClassicRuntime.get().process
assert runtime_process is not None
jvm: subprocess.Popen[bytes] = runtime_process
os.kill(jvm.pid, signal.SIGKILL)
wait_for(lambda: jvm.poll() is not None, 30)
started = time.monotonic()
status = plugin.health_check(timeout=3)
facts["health_after_kill"] = {"status": status.status.value, "message": status.message}
facts["health_after_kill_s"] = time.monotonic() - started

handle = plugin.execute("SELECT 2 AS two", timeout=60)
try:
    facts["query_after_kill"] = handle.fetch_all().to_pylist()
except ComputeError as exc:
    facts["query_after_kill"] = exc.code
facts["reconnects"] = plugin.pool_stats().reconnects
facts["jvms_after_reconnect"] = len(java_processes(CLASSIC_MARK))
facts["health_after_reconnect"] = plugin.health_check(timeout=30).status.value

plugin.disconnect()
facts["jvms_after_disconnect_gone"] = wait_for(lambda: not java_processes(), 30)
facts["pool_after_disconnect"] = plugin.pool_stats().model_dump()
print(json.dumps(facts))
