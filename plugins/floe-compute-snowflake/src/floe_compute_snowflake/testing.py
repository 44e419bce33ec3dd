"""Run the local Snowflake-protocol test server (fakesnow + the cancel test double) from a checkout.

For the plugin's tests, its benchmarks and the demo: the server runs from ``.venv-servers/fakesnow``
(``make servers``) as ``tests/servers/fakesnow_server.py`` of this plugin's folder, on a loopback
port. It is a test double, not Snowflake: see that script's docstring for what it changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from floe_tui.compute import ComputeConfig
from floe_tui.testing.servers import ServerError, ServerProcess

#: The port the demo (`sample_manifests/clouds`) expects the server on.
DEMO_PORT = 18765
#: The password variable of local targets; fakesnow checks no credential, the connector wants one.
PASSWORD_ENV = "FLOE_FAKESNOW_PASSWORD"
#: Database and schema every local target uses (fakesnow creates them at login).
DATABASE, SCHEMA = "analytics", "floe"

_PLUGIN_DIR = Path(__file__).resolve().parents[2]
_CHECKOUT = _PLUGIN_DIR.parents[1]
WRAPPER = _PLUGIN_DIR / "tests" / "servers" / "fakesnow_server.py"
SERVER_PYTHON = _CHECKOUT / ".venv-servers" / "fakesnow" / "bin" / "python"


def fakesnow_server(port: int | None = None, *, startup_timeout_s: float = 60.0) -> ServerProcess:
    """The server, not started yet: ``with fakesnow_server() as server: ...`` starts and stops it."""
    if not WRAPPER.is_file():
        raise ServerError(f"{WRAPPER} is missing: the test server runs from a checkout of floe-tui")
    if not SERVER_PYTHON.is_file():
        raise ServerError(f"{SERVER_PYTHON} is missing: run `make servers` (it makes .venv-servers/fakesnow)")
    return ServerProcess(
        [str(SERVER_PYTHON), str(WRAPPER), "--host", "{host}", "--port", "{port}"],
        name="fakesnow",
        port=port,
        # The server venv's connector is imported, never used to log in; still, no probing.
        env={"SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true", "PYTHONDONTWRITEBYTECODE": "1"},
        http_path="/",
        startup_timeout_s=startup_timeout_s,
    )


def local_target(server_port: int, name: str = "snowflake", **fields: Any) -> ComputeConfig:
    """A `snowflake` target on the local server; `connection` and other fields may be overridden."""
    os.environ.setdefault(PASSWORD_ENV, "fakesnow-ignores-it")
    connection = {
        "account": "fakesnow",
        "user": "floe",
        "database": DATABASE,
        "schema": SCHEMA,
        "host": "127.0.0.1",
        "port": server_port,
        "protocol": "http",
        **fields.pop("connection", {}),
    }
    return ComputeConfig.from_mapping(
        {
            "name": name,
            "plugin": "snowflake",
            "connection": connection,
            "credentials": fields.pop("credentials", {"password": {"env": PASSWORD_ENV}}),
            **fields,
        }
    )
