"""The clouds sample against the local server: `floe-tui query`, `floe-tui profiles`, real dbt-snowflake.

The sample's `snowflake` target names 127.0.0.1:18765 (the demo's port); the tests run on a copy
whose port is the run's fakesnow server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.testing import DEMO_PORT, local_target
from floe_tui.testing.servers import ServerProcess

SAMPLE = Path(str(resources.files("floe_tui_samples"))) / "clouds"
PASSWORD_ENV = "FLOE_DEMO_SNOWFLAKE_PASSWORD"
FLOE_TUI = [sys.executable, "-m", "floe_tui.cli"]
DBT = str(Path(sys.executable).with_name("dbt"))


@pytest.fixture
def clouds(tmp_path: Path, fakesnow: ServerProcess) -> Path:
    root = Path(shutil.copytree(SAMPLE, tmp_path / "clouds"))
    enterprise = root / "enterprise.yaml"
    text = enterprise.read_text()
    assert f"port: {DEMO_PORT}" in text
    enterprise.write_text(text.replace(f"port: {DEMO_PORT}", f"port: {fakesnow.port}"))
    return root


def _env(**changes: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_query_on_the_clouds_sample(clouds: Path) -> None:
    run = subprocess.run(
        [*FLOE_TUI, "query", "-m", str(clouds), "--compute", "snowflake", "SELECT 6 * 7 AS answer"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(**{PASSWORD_ENV: "any"}),
    )
    assert run.returncode == 0, run.stderr
    assert "ANSWER" in run.stdout and "42" in run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1 row(s) in "), run.stderr  # nothing else on stderr


def test_profiles_then_dbt_debug_and_run(clouds: Path, tmp_path: Path, fakesnow: ServerProcess) -> None:
    project = tmp_path / "revenue"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: revenue\nversion: '1.0'\nconfig-version: 2\nprofile: revenue\n"
        "models:\n  revenue:\n    +materialized: table\n"
    )
    (project / "models" / "fct_revenue.sql").write_text(
        "select 1 as region_id, 100.5 as revenue union all select 2, 250.25\n"
    )
    # CI often has no secrets: the profile is written all the same, with a warning naming the variable.
    profiles = subprocess.run(
        [*FLOE_TUI, "profiles", "-m", str(clouds), "--product", "revenue", "-o", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(**{PASSWORD_ENV: None}),
    )
    assert profiles.returncode == 0, profiles.stderr
    assert PASSWORD_ENV in profiles.stderr and "warning" in profiles.stderr
    written = yaml.safe_load((project / "profiles.yml").read_text())
    output = written["revenue"]["outputs"]["dev_snowflake"]
    assert output["password"] == "{{ env_var('" + PASSWORD_ENV + "') }}" and output["port"] == fakesnow.port

    env = _env(**{PASSWORD_ENV: "fakesnow-checks-no-password"})
    common = ["--project-dir", str(project), "--profiles-dir", str(project), "--target", "dev_snowflake"]
    debug = subprocess.run([DBT, "debug", *common], capture_output=True, text=True, timeout=180, env=env)
    assert debug.returncode == 0, debug.stdout[-3000:]
    assert "All checks passed" in debug.stdout
    dbt_run = subprocess.run([DBT, "run", *common], capture_output=True, text=True, timeout=180, env=env)
    assert dbt_run.returncode == 0, dbt_run.stdout[-3000:]
    assert "PASS=1" in dbt_run.stdout

    with SnowflakeComputePlugin(local_target(fakesnow.port)) as plugin:
        table = plugin.execute(
            "SELECT region_id, revenue FROM fct_revenue ORDER BY 1", timeout=30
        ).fetch_all()
    assert table.to_pylist() == [
        {"REGION_ID": 1, "REVENUE": pytest.approx(100.5)},
        {"REGION_ID": 2, "REVENUE": pytest.approx(250.25)},
    ]
