"""The local BigQuery emulator of the tests, the benchmarks and `make demo`, from a checkout.

crucible-emulator runs in its own venv (``.venv-servers/crucible``, made by ``make servers``):
its duckdb pin cannot sit beside the project's. By default it starts through the cancel wrapper
(``tests/servers/crucible_cancel.py``, a test double that makes ``jobs.cancel`` stop the query);
``stock=True`` starts plain ``crucible serve``, which ignores cancels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from floe_tui.compute import ComputeConfig
from floe_tui.testing.servers import ServerError, ServerProcess

#: The port the clouds sample's `bigquery` target names (where `make demo` starts crucible).
DEMO_PORT = 19150
PROJECT = "floe-test"
DATASET = "floe_test"
#: The token variable of local targets: crucible checks no token, the client sends one.
TOKEN_ENV = "FLOE_BIGQUERY_TEST_TOKEN"
#: Keeps one core of the emulator busy until it is stopped (a count over 4e10 generated pairs).
LONG_RUNNING_SQL = (
    "SELECT COUNT(*) AS n FROM UNNEST(GENERATE_ARRAY(1, 200000)) AS a "
    "CROSS JOIN UNNEST(GENERATE_ARRAY(1, 200000)) AS b WHERE MOD(a * b, 7) = 3"
)

_PLUGIN_DIR = Path(__file__).resolve().parents[2]
CHECKOUT = _PLUGIN_DIR.parents[1]
WRAPPER = _PLUGIN_DIR / "tests" / "servers" / "crucible_cancel.py"
SERVER_PYTHON = CHECKOUT / ".venv-servers" / "crucible" / "bin" / "python"


def crucible_server(port: int | None = None, *, stock: bool = False) -> ServerProcess:
    """The emulator, not started yet (``with crucible_server() as server: ...``); `port` None: a free one."""
    if not SERVER_PYTHON.is_file():
        raise ServerError(f"{SERVER_PYTHON} is missing: run `make servers` (it makes .venv-servers/crucible)")
    if stock:
        command = [str(SERVER_PYTHON.with_name("crucible")), "serve", "--dialect", "bigquery"]
    else:
        if not WRAPPER.is_file():
            raise ServerError(f"{WRAPPER} is missing: the test server runs from a checkout of floe-tui")
        command = [str(SERVER_PYTHON), str(WRAPPER)]
    return ServerProcess(
        [*command, "--host", "{host}", "--port", "{port}"],
        name="crucible-stock" if stock else "crucible",
        port=port,
        http_path="/_crucible/health",
        http_status=lambda status: status == 200,
        env={"NO_GCE_CHECK": "true"},
    )


def wait_until_computing(server: ServerProcess, cpu_s: float = 0.2, deadline_s: float = 30.0) -> bool:
    """Wait until the emulator has spent `cpu_s` more CPU seconds: a query is running in it.

    Spent time rather than a share of a core, so that other load on the machine (which slows the
    emulator down) does not make a running query look idle.
    """
    import time

    import psutil

    process = psutil.Process(server.pid)

    def spent() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    start, deadline = spent(), time.monotonic() + deadline_s
    while spent() - start < cpu_s:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)  # polling interval of a condition with a deadline
    return True


def raw_client(server: ServerProcess, project: str = PROJECT) -> Any:
    """The bare google-cloud-bigquery client on `server` (anonymous: crucible checks no token)."""
    from google.auth import credentials
    from google.cloud import bigquery

    anonymous: Any = credentials.AnonymousCredentials  # untyped in google-auth
    return bigquery.Client(
        project=project, credentials=anonymous(), client_options={"api_endpoint": server.base_url}
    )


def create_dataset(server: ServerProcess, dataset: str = DATASET, project: str = PROJECT) -> None:
    """Make `dataset` on a fresh emulator (it starts empty, in memory)."""
    client = raw_client(server, project)
    try:
        client.create_dataset(f"{project}.{dataset}", exists_ok=True)
    finally:
        client.close()


def local_target(server: ServerProcess, name: str = "bigquery", **fields: Any) -> ComputeConfig:
    """A target on `server`: project floe-test, dataset floe_test, a token by {env:} reference.

    `connection` entries are merged over those; `credentials` and other fields replace them.
    """
    os.environ.setdefault(TOKEN_ENV, "crucible-checks-no-token")
    connection = {"project": PROJECT, "dataset": DATASET, "api_endpoint": server.base_url}
    connection |= fields.pop("connection", {})
    credentials = fields.pop("credentials", {"token": {"env": TOKEN_ENV}})
    return ComputeConfig.from_mapping(
        {"name": name, "connection": connection, "credentials": credentials, **fields}
    )
