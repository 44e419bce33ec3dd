"""Run a command beside a local BigQuery emulator (for `make demo` on sample_manifests/clouds).

    .venv/bin/python plugins/floe-compute-bigquery/tests/servers/crucible_demo.py \
        -- .venv/bin/floe-tui -m sample_manifests/clouds

starts crucible through the cancel wrapper (tests/servers/crucible_cancel.py, a test double: the
console's escape really stops a query) from .venv-servers/crucible on 127.0.0.1:19150, the port the
clouds sample's `bigquery` target names; makes the dataset `floe-demo.analytics` with a few small
sample tables; runs the command in the foreground; and stops the server by its PID when the command
ends (or on SIGINT, SIGTERM or SIGHUP: its terminal closed). Without a command it serves until
interrupted. The token variable of the sample (FLOE_DEMO_BIGQUERY_TOKEN) is set for the command if
it is not set: crucible checks no token. Launchers of other servers can be chained:
``-- other_demo.py -- ...``.

Exit status: the command's; 2 when the server could not start (the port in use, no server venv).
"""

from __future__ import annotations

import sys

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import DEMO_PORT, create_dataset, crucible_server, local_target
from floe_tui.compute import QueryOutcome
from floe_tui.testing.servers import ServerError, ServerProcess, demo_main

TOKEN_ENV = "FLOE_DEMO_BIGQUERY_TOKEN"
PROJECT, DATASET = "floe-demo", "analytics"
SAMPLE_TABLES = [
    "CREATE OR REPLACE TABLE regions AS SELECT 1 AS region_id, 'EMEA' AS region "
    "UNION ALL SELECT 2, 'AMER' UNION ALL SELECT 3, 'APAC'",
    "CREATE OR REPLACE TABLE customers AS SELECT id AS customer_id, CONCAT('customer ', CAST(id AS STRING)) "
    "AS name, MOD(id, 3) + 1 AS region_id FROM UNNEST(GENERATE_ARRAY(1, 500)) AS id",
    "CREATE OR REPLACE TABLE invoices AS SELECT id AS invoice_id, MOD(id * 7919, 500) + 1 AS customer_id, "
    "ROUND(MOD(id * 104729, 500000) / 100, 2) AS amount, "
    "DATE_SUB(DATE '2026-12-01', INTERVAL MOD(id * 31, 730) DAY) AS invoiced_on "
    "FROM UNNEST(GENERATE_ARRAY(1, 20000)) AS id",
]


def seed(server: ServerProcess) -> None:
    """Small sample tables in floe-demo.analytics, through the plugin itself."""
    create_dataset(server, DATASET, PROJECT)
    target = local_target(
        server,
        connection={"project": PROJECT, "dataset": DATASET},
        credentials={"token": {"env": TOKEN_ENV}},
    )
    with BigQueryComputePlugin(target) as bq:
        for statement in SAMPLE_TABLES:
            handle = bq.execute(statement, timeout=60)
            if handle.wait(60) is not QueryOutcome.COMPLETED:
                raise ServerError(f"seeding the demo data failed: {handle.error}")


if __name__ == "__main__":
    sys.exit(
        demo_main(
            sys.argv[1:],
            make_server=crucible_server,
            default_port=DEMO_PORT,
            seed=seed,
            env_defaults={TOKEN_ENV: "crucible-checks-no-token"},
            description=__doc__.splitlines()[0] if __doc__ else None,
            banner=lambda s: f"crucible (a BigQuery emulator) on {s.base_url}, pid {s.pid}",
        )
    )
