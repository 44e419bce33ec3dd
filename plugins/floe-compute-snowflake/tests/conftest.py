"""Fixtures of the Snowflake plugin's tests: the real connector over loopback HTTP to fakesnow.

Budget: one fakesnow server (the cancel test double of tests/servers/fakesnow_server.py) for the
whole run, started on a free loopback port and stopped by its PID at the end. Tests that kill or
hang a server start their own. The server venv is made by `make servers`; without it the tests
fail, saying so, rather than skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.testing import PASSWORD_ENV, fakesnow_server, local_target
from floe_tui.compute import ComputeConfig
from floe_tui.testing.servers import ServerProcess

TargetFactory = Callable[..., ComputeConfig]
PluginFactory = Callable[..., SnowflakeComputePlugin]


@pytest.fixture(scope="session", autouse=True)
def _no_platform_probes() -> Iterator[None]:
    """dbt-snowflake (and any connector we do not configure) never probes cloud metadata addresses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
        patch.setenv(PASSWORD_ENV, "fakesnow-checks-no-password")
        yield


@pytest.fixture(scope="session")
def fakesnow() -> Iterator[ServerProcess]:
    """The run's fakesnow server; the tests leave it running and answering."""
    server = fakesnow_server()
    with server:
        yield server
        assert server.running, f"a test left the shared fakesnow server stopped:\n{server.log_tail()}"
    assert not server.running


@pytest.fixture
def target(fakesnow: ServerProcess) -> TargetFactory:
    """`target(connection={...}, pool={...}, ...)` -> a `snowflake` target on the run's server."""

    def build(**fields: Any) -> ComputeConfig:
        return local_target(fakesnow.port, **fields)

    return build


@pytest.fixture
def open_plugin(target: TargetFactory) -> Iterator[PluginFactory]:
    """Connect a plugin for the test; disconnect it afterwards and check that nothing leaked."""
    opened: list[SnowflakeComputePlugin] = []

    def open_(**fields: Any) -> SnowflakeComputePlugin:
        plugin = SnowflakeComputePlugin(target(**fields))
        plugin.connect()
        opened.append(plugin)
        return plugin

    yield open_
    for plugin in opened:
        plugin.disconnect()
        stats = plugin.pool_stats()
        assert (stats.size, stats.in_use, stats.created - stats.closed) == (0, 0, 0), stats
