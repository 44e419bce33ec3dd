"""The Spark plugin against the whole compliance suite: a classic local[2] session and Spark Connect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.server import LocalConnectServer
from floe_tui.compute import ComputeConfig
from floe_tui.testing import ComputePluginCompliance

LONG_RUNNING = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"
#: A billion rows in 1,000 partitions: Spark serves them a partition (a million rows) at a time.
LARGE_RESULT = "SELECT id FROM range(0, 1000000000, 1, 1000)"


class TestSparkClassicLocal(ComputePluginCompliance):
    plugin_class = SparkComputePlugin
    long_running_sql = LONG_RUNNING
    large_result_sql = LARGE_RESULT
    secret_credential_names = ("token",)
    make_target: ClassVar[Callable[..., ComputeConfig]]

    @pytest.fixture(scope="class", autouse=True)
    def _targets(
        self,
        request: pytest.FixtureRequest,
        spark_runtime: SparkComputePlugin,
        classic_target: Callable[..., ComputeConfig],
    ) -> None:
        request.cls.make_target = staticmethod(classic_target)

    def make_config(self, directory: Path) -> ComputeConfig:
        return self.make_target("spark")


class TestSparkConnect(ComputePluginCompliance):
    plugin_class = SparkComputePlugin
    long_running_sql = LONG_RUNNING
    large_result_sql = LARGE_RESULT
    secret_credential_names = ("token",)
    make_target: ClassVar[Callable[..., ComputeConfig]]
    server: ClassVar[LocalConnectServer]

    @pytest.fixture(scope="class", autouse=True)
    def _targets(
        self,
        request: pytest.FixtureRequest,
        connect_server: LocalConnectServer,
        remote_target: Callable[..., ComputeConfig],
    ) -> None:
        request.cls.make_target = staticmethod(remote_target)
        request.cls.server = connect_server

    @pytest.fixture
    def secret_values(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        """The server's real token: a made-up one would be refused, and then nothing could leak."""
        token = self.server.token
        assert token is not None
        monkeypatch.setenv("FLOE_COMPLIANCE_TOKEN", token)
        return {"token": token}

    def make_config(self, directory: Path) -> ComputeConfig:
        return self.make_target("sc")
