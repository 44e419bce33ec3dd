"""The clouds sample's `bigquery` target through the commands: `floe-tui query` and `profiles`.

The sample names 127.0.0.1:19150 (where `make demo` starts the emulator); the tests run on a
copy whose endpoint is the session's emulator.
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

from floe_compute_bigquery.testing import DEMO_PORT, create_dataset
from floe_tui.testing import ServerProcess

SAMPLE = Path(str(resources.files("floe_tui_samples"))) / "clouds"
TOKEN_ENV = "FLOE_DEMO_BIGQUERY_TOKEN"
FLOE_TUI = [sys.executable, "-m", "floe_tui.cli"]


@pytest.fixture
def clouds(tmp_path: Path, crucible: ServerProcess) -> Path:
    root = Path(shutil.copytree(SAMPLE, tmp_path / "clouds"))
    enterprise = root / "enterprise.yaml"
    text = enterprise.read_text()
    endpoint = f"api_endpoint: http://127.0.0.1:{DEMO_PORT}"
    assert endpoint in text
    enterprise.write_text(text.replace(endpoint, f"api_endpoint: {crucible.base_url}"))
    create_dataset(crucible, "analytics", "floe-demo")
    return root


def env(**changes: str | None) -> dict[str, str]:
    result = {**os.environ, "NO_GCE_CHECK": "true"}
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def test_query_on_the_clouds_sample(clouds: Path) -> None:
    run = subprocess.run(
        [*FLOE_TUI, "query", "-m", str(clouds), "--compute", "bigquery", "SELECT 6 * 7 AS answer"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(**{TOKEN_ENV: "crucible-checks-no-token"}),
    )
    assert run.returncode == 0, run.stderr
    assert "answer" in run.stdout and "42" in run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1 row(s) in "), run.stderr  # nothing else on stderr
    # The summary says what the job cost (crucible: nothing) and which job it was.
    assert "(0 bytes processed, 0 bytes billed, query floe_" in lines[0]


def test_query_with_the_token_variable_unset(clouds: Path) -> None:
    run = subprocess.run(
        [*FLOE_TUI, "query", "-m", str(clouds), "--compute", "bigquery", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(**{TOKEN_ENV: None}),
    )
    assert run.returncode != 0
    assert f"environment variable {TOKEN_ENV} is not set" in run.stderr and "hint:" in run.stderr
    assert run.stderr.strip().count("\n") == 0, "one `error:` line"


def test_profiles_warn_about_an_unset_token_and_still_write(clouds: Path, tmp_path: Path) -> None:
    out = tmp_path / "churn"
    run = subprocess.run(
        [*FLOE_TUI, "profiles", "-m", str(clouds), "--product", "churn", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(**{TOKEN_ENV: None}),
    )
    assert run.returncode == 0, run.stderr
    assert TOKEN_ENV in run.stderr and "warning" in run.stderr
    written = yaml.safe_load((out / "profiles.yml").read_text())
    output = written["churn"]["outputs"]["dev_bigquery"]
    assert output["type"] == "bigquery" and output["method"] == "oauth-secrets"
    assert output["token"] == "{{ env_var('" + TOKEN_ENV + "') }}"
    assert output["project"] == "floe-demo" and output["dataset"] == "analytics"
