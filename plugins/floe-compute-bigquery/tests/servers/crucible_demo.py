"""Run a command beside a local BigQuery emulator (for `make demo` on sample_manifests/clouds).

    .venv/bin/python plugins/floe-compute-bigquery/tests/servers/crucible_demo.py \
        -- .venv/bin/floe-tui -m sample_manifests/clouds

starts crucible through the cancel wrapper (tests/servers/crucible_cancel.py, a test double: the
console's escape really stops a query) from .venv-servers/crucible on 127.0.0.1:19150, the port the
clouds sample's `bigquery` target names; makes the dataset `floe-demo.analytics` with a few small
sample tables; runs the command in the foreground; and stops the server by its PID when the command
ends (or on SIGINT/SIGTERM). Without a command it serves until interrupted. The token variable of
the sample (FLOE_DEMO_BIGQUERY_TOKEN) is set for the command if it is not set: crucible checks no
token. Launchers of other servers can be chained: ``-- other_demo.py -- ...``.

Exit status: the command's; 2 when the server could not start (the port in use, no server venv).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType

from floe_compute_bigquery import BigQueryComputePlugin
from floe_compute_bigquery.testing import DEMO_PORT, create_dataset, crucible_server, local_target
from floe_tui.compute import QueryOutcome
from floe_tui.testing import ServerError, ServerProcess

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=DEMO_PORT, help="loopback port (default %(default)s)")
    parser.add_argument("--no-seed", action="store_true", help="start with no dataset")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    os.environ.setdefault(TOKEN_ENV, "crucible-checks-no-token")
    try:
        server = crucible_server(args.port)
        server.start()
    except ServerError as exc:
        print(f"error: crucible: {exc}", file=sys.stderr)
        return 2
    stop_requested: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not args.no_seed:
            seed(server)
        print(f"crucible (a BigQuery emulator) on {server.base_url}, pid {server.pid}", file=sys.stderr)
        if not command:
            signal.pause()
            return 0
        # ctrl-c reaches the command (same terminal process group); this launcher outlives it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        child = subprocess.Popen(command)
        try:
            return child.wait()
        except KeyboardInterrupt:  # SIGTERM to this launcher: pass it on
            child.terminate()
            return child.wait()
    except KeyboardInterrupt:
        return 130 if not stop_requested else 128 + stop_requested[0]
    except ServerError as exc:
        print(f"error: crucible: {exc}", file=sys.stderr)
        return 2
    finally:
        server.close()


if __name__ == "__main__":
    raise SystemExit(main())
