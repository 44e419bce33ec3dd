"""Run a command beside a local Snowflake-protocol server (for `make demo` on sample_manifests/clouds).

    .venv/bin/python plugins/floe-compute-snowflake/tests/servers/fakesnow_demo.py \
        -- .venv/bin/floe-tui -m sample_manifests/clouds

starts the fakesnow test double (tests/servers/fakesnow_server.py, from .venv-servers/fakesnow) on
127.0.0.1:18765, the port the clouds sample's `snowflake` target names, fills `analytics.floe` with a
few small sample tables, runs the command in the foreground, and stops the server by its PID when the
command ends (or on SIGINT, SIGTERM or SIGHUP: its terminal closed). Without a command it serves
until interrupted; `--port N` and `--no-seed` change the rest. The password variable of the
sample (FLOE_DEMO_SNOWFLAKE_PASSWORD) is set for the command if it is not set: fakesnow checks no
credential. Launchers chain:
``fakesnow_demo.py -- crucible_demo.py -- floe-tui ...``.

Exit status: the command's; 2 when the server could not start (the port in use, no server venv).
"""

from __future__ import annotations

import sys

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.testing import DEMO_PORT, fakesnow_server, local_target
from floe_tui.compute import QueryOutcome
from floe_tui.testing.servers import ServerError, ServerProcess, demo_main

PASSWORD_ENV = "FLOE_DEMO_SNOWFLAKE_PASSWORD"
SAMPLE_TABLES = [
    "CREATE OR REPLACE TABLE regions AS SELECT * FROM (VALUES (1, 'EMEA'), (2, 'AMER'), (3, 'APAC')) "
    "AS r(region_id, region)",
    "CREATE OR REPLACE TABLE customers AS SELECT seq4() AS customer_id, 'customer ' || seq4() AS name, "
    "uniform(1, 3, random()) AS region_id FROM TABLE(generator(rowcount => 500))",
    "CREATE OR REPLACE TABLE invoices AS SELECT seq4() AS invoice_id, "
    "uniform(0, 499, random()) AS customer_id, uniform(1000, 500000, random()) / 100 AS amount, "
    "dateadd(day, -uniform(0, 730, random()), current_date()) AS invoiced_on "
    "FROM TABLE(generator(rowcount => 20000))",
]


def seed(server: ServerProcess) -> None:
    """Small sample tables in analytics.floe, through the plugin itself."""
    with SnowflakeComputePlugin(
        local_target(server.port, credentials={"password": {"env": PASSWORD_ENV}})
    ) as sf:
        for statement in SAMPLE_TABLES:
            handle = sf.execute(statement, timeout=60)
            if handle.wait(60) is not QueryOutcome.COMPLETED:
                raise ServerError(f"seeding the demo data failed: {handle.error}")


if __name__ == "__main__":
    sys.exit(
        demo_main(
            sys.argv[1:],
            make_server=fakesnow_server,
            default_port=DEMO_PORT,
            seed=seed,
            env_defaults={PASSWORD_ENV: "fakesnow-checks-no-password"},
            description=__doc__.splitlines()[0] if __doc__ else None,
            banner=lambda s: f"fakesnow (a Snowflake test double) on {s.base_url}, pid {s.pid}",
        )
    )
