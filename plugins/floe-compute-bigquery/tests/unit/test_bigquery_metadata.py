"""What the plugin declares, and what importing it costs and changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import CatalogConfig, discover_plugins

PROBE = """
import json, os, sys, time
started = time.perf_counter()
import floe_compute_bigquery
elapsed = time.perf_counter() - started
google = sorted(m for m in sys.modules if m.startswith("google.") and m != "google.cloud")
import logging
logging.getLogger("google.cloud.bigquery").warning("a library warning: to the log, not stderr")
print(json.dumps({"modules": google, "no_gce_check": os.environ.get("NO_GCE_CHECK"), "seconds": elapsed}))
"""


def probe(env: dict[str, str]) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    assert run.stderr == ""
    result: dict[str, object] = json.loads(run.stdout)
    return result


def test_cloud_engine_declarations() -> None:
    cls = BigQueryComputePlugin
    assert cls.name == "bigquery" and not cls.is_self_hosted
    assert cls.min_poll_interval_s == 60.0 and cls.connect_on_view is False and cls.health_via == "check"
    assert cls.credential_names == frozenset({"keyfile", "token"})
    assert cls().memory_stats() is None
    lake = CatalogConfig(name="lake", uri="http://127.0.0.1:1/catalog")
    assert cls().get_catalog_attachment_sql(lake) is None  # BigLake tables, not an ATTACH statement


def test_found_through_its_entry_point() -> None:
    assert discover_plugins().get("bigquery") is BigQueryComputePlugin


def test_import_loads_no_google_module_sets_no_gce_check_and_quiets_google_loggers() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_GCE_CHECK"}
    result = probe(env)
    assert result["modules"] == [], "Google's modules are imported where they are used, not at import"
    assert result["no_gce_check"] == "true"


@pytest.mark.parametrize("value", ["false", "True"])
def test_a_no_gce_check_the_user_set_is_kept(value: str) -> None:
    assert probe({**os.environ, "NO_GCE_CHECK": value})["no_gce_check"] == value
