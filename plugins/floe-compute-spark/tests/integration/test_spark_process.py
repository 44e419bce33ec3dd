"""What only a fresh interpreter can show: start-up cost, JVM start and stop, a JVM that dies.

Each scenario runs once in a subprocess (real Spark, its own JVM) and prints its facts as JSON;
each test below checks one of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def run_script(name: str, timeout: float) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / name)], capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, run.stderr[-3000:]
    facts: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return facts


@pytest.fixture(scope="module")
def imports() -> dict[str, Any]:
    return run_script("imports_only.py", timeout=120)


@pytest.fixture(scope="module")
def lifecycle() -> dict[str, Any]:
    return run_script("classic_lifecycle.py", timeout=400)


def test_floe_and_both_plugins_import_no_pyspark(imports: dict[str, Any]) -> None:
    assert imports["spark_discovered"] and imports["engine_modules"] == []


def test_validating_and_profiling_a_target_starts_no_jvm(imports: dict[str, Any]) -> None:
    assert imports["validated"] and imports["profile"] == "session" and imports["java_processes"] == 0


def test_health_before_connect_needs_no_engine(imports: dict[str, Any]) -> None:
    assert imports["health_before_connect"] == "unhealthy" and imports["engine_modules"] == []


def test_the_jvm_starts_on_the_first_connect_only(lifecycle: dict[str, Any]) -> None:
    assert lifecycle["jvms_before_connect"] == 0 and lifecycle["modules_before_connect"] == []
    assert lifecycle["jvms_after_connect"] == 1 and lifecycle["first_query"] == [{"one": 1}]


def test_a_start_up_setting_the_jvm_rejects_is_a_config_error(lifecycle: dict[str, Any]) -> None:
    error = lifecycle["bad_conf"]
    assert error is not None and error["code"] == "FLOE-C100" and error["hint"]
    assert "did not start" in error["message"] and "lots" not in error["message"]


def test_a_refused_start_returns_within_the_connect_timeout_and_leaves_no_jvm(
    lifecycle: dict[str, Any],
) -> None:
    assert lifecycle["bad_conf_s"] < 120 and lifecycle["jvms_after_bad_conf"] == 0


def test_health_reports_a_dead_jvm_within_its_timeout(lifecycle: dict[str, Any]) -> None:
    health = lifecycle["health_after_kill"]
    assert health["status"] == "unhealthy" and "exited" in health["message"]
    assert lifecycle["health_after_kill_s"] < 3.5


def test_the_next_query_after_the_jvm_died_restarts_it(lifecycle: dict[str, Any]) -> None:
    assert lifecycle["query_after_kill"] == [{"two": 2}] and lifecycle["jvms_after_reconnect"] == 1


def test_the_restart_is_counted_as_a_reconnect(lifecycle: dict[str, Any]) -> None:
    assert lifecycle["reconnects"] == 1 and lifecycle["health_after_reconnect"] == "healthy"


def test_disconnect_leaves_no_jvm_and_an_empty_pool(lifecycle: dict[str, Any]) -> None:
    pool = lifecycle["pool_after_disconnect"]
    assert lifecycle["jvms_after_disconnect_gone"]
    assert pool["size"] == 0 and pool["created"] == pool["closed"]
