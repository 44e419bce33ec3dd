"""Real dbt-bigquery with the plugin's generated profile, against the emulator: a seed and a model.

The compliance suite runs `dbt debug` on the token profile (method oauth-secrets); this test
builds with the keyfile profile (method service-account), whose token comes from the loopback
token stub the keyfile names. The plugin then reads back what dbt built.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import ComputeConfig

Open = Callable[[ComputeConfig], BigQueryComputePlugin]


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_GCE_CHECK": "true",  # google-auth must not look for a metadata server
    }
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            *args,
            "--profiles-dir",
            str(project),
            "--no-use-colors",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_dbt_seeds_and_runs_a_model_with_the_generated_profile(
    tmp_path: Path,
    bq_target: Callable[..., ComputeConfig],
    open_plugin: Open,
    token_stub: Any,
    make_keyfile: Any,
) -> None:
    keyfile = make_keyfile(token_stub.url)
    config = bq_target(
        connection={"dataset": "floe_dbt", "location": "US", "maximum_bytes_billed": "1GB"},
        credentials={"keyfile": {"file": str(keyfile.path)}},
    )
    output = BigQueryComputePlugin().generate_dbt_profile(config, "dev")
    assert output["method"] == "service-account"
    project = tmp_path / "shop"
    (project / "seeds").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n"
        "seeds:\n  shop:\n    +column_types: {id: INT64, amount: FLOAT64}\n"
    )
    (project / "profiles.yml").write_text(
        yaml.safe_dump({"shop": {"target": "dev", "outputs": {"dev": output}}})
    )
    (project / "seeds" / "orders.csv").write_text("id,amount\n1,10.5\n2,20.0\n3,4.5\n")
    (project / "models" / "order_totals.sql").write_text(
        "select count(*) as orders, sum(amount) as total from {{ ref('orders') }}\n"
    )
    # One dbt process for the seed and the model (`dbt build` = seed, then run): each dbt start
    # costs seconds of the test budget.
    result = dbt(project, "build")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "PASS=2 WARN=0 ERROR=0" in result.stdout, result.stdout[-3000:]
    assert token_stub.grants, "dbt signed in with the keyfile at its token_uri"
    plugin = open_plugin(config)
    rows = plugin.execute("SELECT orders, total FROM floe_dbt.order_totals").fetch_all().to_pylist()
    assert rows == [{"orders": 3, "total": 35.0}]
