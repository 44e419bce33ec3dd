"""generate_dbt_profile as data, then as dbt-databricks' own profile code reads it (in process).

`dbt parse` itself reads the generated profile in integration/test_databricks_dbt.py.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_compute_databricks import DatabricksComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError

Target = Callable[..., ComputeConfig]
# dbt-databricks' own models use pydantic-1 idioms: its import warns, which says nothing about us.
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore:Valid config keys have changed in V2:UserWarning"
)


def profile(config: ComputeConfig) -> dict[str, Any]:
    return DatabricksComputePlugin().generate_dbt_profile(config, "dev")


def load_with_dbt(output: dict[str, Any]) -> Any:
    """dbt's profile loading: renders env_var() and builds dbt-databricks' credentials."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_from_args(Namespace(), {})
    set_invocation_context(dict(os.environ))  # what env_var() reads
    raw = {"floe": {"target": "dev", "outputs": {"dev": output}}}
    return Profile.from_raw_profiles(raw, "floe", ProfileRenderer({})).credentials


def test_profile_has_the_warehouse_the_token_reference_and_no_telemetry(target: Target) -> None:
    config = target({"catalog": "main", "schema": "analytics"}, pool={"size": 3})

    assert profile(config) == {
        "type": "databricks",
        "host": "127.0.0.1",
        "http_path": "/sql/1.0/warehouses/0123456789abcdef",
        "catalog": "main",
        "schema": "analytics",
        "token": "{{ env_var('FLOE_TEST_DATABRICKS_TOKEN') }}",
        "threads": 3,
        "connect_retries": 3,
        "connect_timeout": 10,
        "connection_parameters": {"enable_telemetry": False},
    }


def test_profile_defaults_the_schema_and_passes_another_port_to_the_connector(target: Target) -> None:
    output = profile(target(port=8443))

    assert output["schema"] == "default" and "catalog" not in output
    assert output["connection_parameters"] == {"enable_telemetry": False, "_port": 8443}


def test_profile_never_holds_the_token(target: Target, token: str) -> None:
    text = yaml.safe_dump(profile(target({"catalog": "main"})))

    assert token not in text and "FLOE_TEST_DATABRICKS_TOKEN" in text


def test_a_file_token_or_no_token_cannot_make_a_profile(target: Target, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as from_file:
        profile(target(credentials={"token": {"file": str(tmp_path / "token")}}))
    with pytest.raises(ConfigError) as missing:
        profile(target(credentials={}))

    assert "file reference" in from_file.value.message and "{env: NAME}" in from_file.value.hint
    assert "token" in missing.value.message and missing.value.hint


def test_dbt_databricks_reads_the_generated_profiles(target: Target, token: str) -> None:
    plain = load_with_dbt(profile(target({"catalog": "main", "schema": "analytics"})))
    other_port = load_with_dbt(profile(target(port=8443)))

    assert plain.type == "databricks" and plain.token == token  # env_var() rendered by dbt
    assert (plain.host, plain.http_path, plain.database, plain.schema) == (
        "127.0.0.1",
        "/sql/1.0/warehouses/0123456789abcdef",
        "main",
        "analytics",
    )
    assert plain.connection_parameters["enable_telemetry"] is False
    assert other_port.connection_parameters["_port"] == 8443
    assert other_port.database == "hive_metastore"  # dbt-databricks' default without a catalog


def test_dbt_databricks_rejects_what_it_should(target: Target, token: str) -> None:
    """The in-process check can fail: the mistakes dbt refuses are refused here too."""
    from dbt.exceptions import DbtProfileError

    good = profile(target({"schema": "analytics"}))
    broken = [
        {**good, "schema": "main.analytics"},  # a catalog smuggled into the schema
        {**good, "threads": "many"},
        {**good, "connection_parameters": {"access_token": "literal"}},  # reserved key
    ]
    failures = []
    for output in broken:
        with pytest.raises((DbtProfileError, ValueError, TypeError)) as caught:
            load_with_dbt(output)
        failures.append(str(caught.value))

    assert "should not contain '.'" in failures[0]
    assert "many" in failures[1] and "reserved" in failures[2]
