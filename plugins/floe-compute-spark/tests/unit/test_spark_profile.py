"""dbt-spark outputs: session for local and Connect, thrift/http for a Thrift Server; secrets by reference.

Every output is also loaded by dbt's own profile code (dbt-core with dbt-spark, PyHive for
thrift/http), which validates the credentials the way `dbt debug` starts.
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

import pytest
import yaml

from floe_compute_spark import SparkComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError


def profile(connection: dict[str, Any], credentials: dict[str, Any] | None = None) -> dict[str, Any]:
    config = ComputeConfig.from_mapping(
        {"name": "spark", "connection": connection, "credentials": credentials or {}}
    )
    output: dict[str, Any] = SparkComputePlugin().generate_dbt_profile(config, "dev")
    return output


def load_with_dbt(output: dict[str, Any]) -> Any:
    """dbt's profile loading: renders env_var() and builds the adapter's credentials."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_from_args(Namespace(), {})
    set_invocation_context(dict(os.environ))  # what env_var() reads
    raw = {"floe": {"target": "dev", "outputs": {"dev": output}}}
    return Profile.from_raw_profiles(raw, "floe", ProfileRenderer({})).credentials


def test_local_master_uses_the_session_method_with_master_and_conf() -> None:
    output = profile({"master": "local[2]", "conf": {"spark.sql.shuffle.partitions": 4}})
    assert output["method"] == "session" and output["schema"] == "default"
    assert output["server_side_parameters"] == {
        "spark.sql.shuffle.partitions": "4",
        "spark.master": "local[2]",
        "spark.app.name": "floe-tui-dbt-dev",
    }


def test_connect_token_is_an_env_var_reference_inside_spark_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_TOKEN", "s3cr3t-token")
    output = profile({"remote": "sc://spark.example:15002"}, {"token": {"env": "SPARK_TOKEN"}})
    remote = output["server_side_parameters"]["spark.remote"]
    assert remote == "sc://spark.example:15002/;token={{ env_var('SPARK_TOKEN') }}"
    assert "s3cr3t" not in yaml.safe_dump(output)


def test_connect_token_joins_existing_url_parameters() -> None:
    output = profile({"remote": "sc://h:15002/;use_ssl=true"}, {"token": {"env": "T"}})
    assert (
        output["server_side_parameters"]["spark.remote"]
        == "sc://h:15002/;use_ssl=true;token={{ env_var('T') }}"
    )


def test_a_file_secret_cannot_go_into_a_profile(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        profile({"remote": "sc://h:15002"}, {"token": {"file": str(tmp_path / "token")}})
    assert "environment variables" in caught.value.message


def test_thrift_profile_is_accepted_by_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRIFT_PASSWORD", "pw-value")
    output = profile(
        {"master": "spark://m:7077", "dbt": {"method": "thrift", "host": "sts.example", "auth": "LDAP"}},
        {"password": {"env": "THRIFT_PASSWORD"}},
    )
    assert output["password"] == "{{ env_var('THRIFT_PASSWORD') }}"
    credentials = load_with_dbt(output)
    assert (credentials.method, credentials.host, credentials.port) == ("thrift", "sts.example", 10000)


def test_http_profile_is_accepted_by_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_TOKEN", "tok-value")
    output = profile(
        {"remote": "sc://h:15002", "dbt": {"method": "http", "host": "dbc.example", "cluster": "c-1"}},
        {"token": {"env": "HTTP_TOKEN"}},
    )
    credentials = load_with_dbt(output)
    assert (credentials.method, credentials.port, credentials.cluster) == ("http", 443, "c-1")


def test_http_profile_needs_a_token() -> None:
    with pytest.raises(ConfigError):
        profile({"master": "yarn", "dbt": {"method": "http", "host": "dbc.example", "cluster": "c"}})


def test_session_profiles_are_accepted_by_dbt_profile_loading() -> None:
    credentials = load_with_dbt(profile({"master": "local[2]"}))
    assert credentials.method == "session"
