"""A compliance suite that passes everything proves nothing: it must fail an abandoning plugin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent

SUITE_FOR_TOY = """
from pathlib import Path

from abandoning_engine import BURN, ROWS, AbandoningPlugin
from floe_tui.compute import ComputeConfig
from floe_tui.testing import ComputePluginCompliance


class TestAbandoning(ComputePluginCompliance):
    plugin_class = AbandoningPlugin
    long_running_sql = BURN
    large_result_sql = ROWS
    run_dbt_debug = False

    def make_config(self, directory: Path) -> ComputeConfig:
        return ComputeConfig.from_mapping({"name": "toy", "plugin": "abandoning"})
"""


def test_suite_fails_a_plugin_that_abandons_queries(pytester: pytest.Pytester) -> None:
    shutil.copy(HERE / "abandoning_engine.py", pytester.path / "abandoning_engine.py")
    pytester.makepyfile(test_toy=SUITE_FOR_TOY)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=240)
    failed = {line.split("::")[-1].split(" ")[0] for line in result.outlines if line.startswith("FAILED")}
    assert failed == {"test_cancel_stops_the_engine", "test_timeout_stops_the_engine"}, result.stdout.str()
    assert "query was abandoned" in result.stdout.str()
