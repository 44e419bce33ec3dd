"""The real `dbt parse` (dbt-core 1.10 with dbt-databricks 1.10.9) reads the generated profile.

`dbt parse` validates the profile offline (it opens no connection); a deliberately broken profile
run the same way must fail, so the check can fail. Both run at once (about 10 s each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from floe_compute_databricks import DatabricksComputePlugin
from floe_tui.compute import ComputeConfig

Target = Callable[..., ComputeConfig]
DBT = Path(sys.executable).with_name("dbt")


def dbt_project(directory: Path, output: dict[str, Any]) -> Path:
    directory.mkdir()
    (directory / "dbt_project.yml").write_text(
        "name: floe_databricks\nversion: '1.0'\nconfig-version: 2\nprofile: floe\n"
    )
    (directory / "models").mkdir()
    (directory / "models" / "one.sql").write_text("select 1 as one\n")
    (directory / "profiles.yml").write_text(
        yaml.safe_dump({"floe": {"target": "dev", "outputs": {"dev": output}}})
    )
    return directory


def start_parse(project: Path, token: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FLOE_TEST_DATABRICKS_TOKEN": token,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    return subprocess.Popen(
        [
            str(DBT),
            "parse",
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--no-partial-parse",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_dbt_parse_accepts_the_profile_and_rejects_a_broken_one(
    target: Target, token: str, tmp_path: Path
) -> None:
    assert DBT.exists(), "dbt-core is installed with the plugin's test extra"
    output = DatabricksComputePlugin().generate_dbt_profile(
        target({"catalog": "main", "schema": "analytics"}, port=8443), "dev"
    )
    good = dbt_project(tmp_path / "good", output)
    broken = dbt_project(tmp_path / "broken", {**output, "schema": "main.analytics"})

    runs = [start_parse(good, token), start_parse(broken, token)]
    (good_out, _), (broken_out, _) = (run.communicate(timeout=180) for run in runs)

    assert runs[0].returncode == 0, good_out[-3000:]
    assert runs[1].returncode != 0 and "should not contain '.'" in broken_out, broken_out[-3000:]
    written = "".join(p.read_text(errors="replace") for p in good.rglob("*") if p.is_file())
    assert token not in written + good_out, "dbt wrote the token somewhere"
