"""The plugin contract's compliance suite, against the local fakesnow server (the run's shared one).

fakesnow is DuckDB behind Snowflake's protocol, with the test double's abort request (see
tests/servers/fakesnow_server.py): "the engine stops" is read on the server process, a child of
this one. A check the emulator cannot support is an xfail(strict=True) naming the limit, and the
plugin README lists it under "checked only against real Snowflake".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.testing import local_target
from floe_tui.compute import ComputeConfig
from floe_tui.testing import ComputePluginCompliance
from floe_tui.testing.servers import ServerProcess


class TestSnowflakeCompliance(ComputePluginCompliance):
    plugin_class = SnowflakeComputePlugin
    # Snowflake SQL; about a minute and a half of one DuckDB core unless it is stopped.
    long_running_sql = "SELECT sum(seq4()) AS s FROM TABLE(generator(rowcount => 100000000000))"
    large_result_sql = "SELECT seq4() AS i, seq4() * 2 AS twice FROM TABLE(generator(rowcount => 1000000))"
    secret_credential_names = ("password",)
    # `dbt debug` and `dbt run` run on the output of `floe-tui profiles` in test_snowflake_clouds_sample.
    run_dbt_debug: ClassVar[bool] = False
    port: ClassVar[int] = 0

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _server(cls, fakesnow: ServerProcess) -> Iterator[None]:
        cls.port = fakesnow.port
        yield

    def make_config(self, directory: Path) -> ComputeConfig:
        return local_target(self.port, pool={"size": 2, "acquire_timeout_s": 10, "connect_timeout_s": 30})
