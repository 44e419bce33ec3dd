"""The Spark target's connection model: what a manifest may say, and what it may not."""

from __future__ import annotations

from typing import Any

import pytest

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.config import SparkConnection
from floe_tui.compute import ComputeConfig, ConfigError


def parse(connection: dict[str, Any]) -> SparkConnection:
    config = ComputeConfig.from_mapping({"name": "spark", "connection": connection})
    parsed = SparkComputePlugin(config).parse_connection(config)
    assert isinstance(parsed, SparkConnection)
    return parsed


@pytest.mark.parametrize(
    "master",
    [
        "local",
        "local[1]",
        "local[*]",
        "local[4,2]",
        "spark://h1:7077",
        "spark://h1:7077,h2:7077",
        "yarn",
        "k8s://https://10.0.0.1:6443",
        "k8s://api.example:443",
    ],
)
def test_master_urls_spark_accepts_are_accepted(master: str) -> None:
    assert parse({"master": master}).master == master


@pytest.mark.parametrize(
    "master", ["local[0]", "local[x]", "spark://host", "spark://:7077", "mesos://h:5050", "k8s://", "foo", ""]
)
def test_malformed_master_urls_are_refused_by_field(master: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"master": master})
    assert "connection `master`" in caught.value.message and caught.value.hint


def test_master_defaults_to_local_two_threads() -> None:
    connection = parse({})
    assert connection.mode == "classic" and connection.effective_master == "local[2]"


def test_remote_selects_spark_connect_and_keeps_its_parameters() -> None:
    connection = parse({"remote": "sc://spark.example:15002/;use_ssl=true;user_id=etl"})
    assert connection.mode == "connect"
    assert (connection.remote_host, connection.remote_port) == ("spark.example", 15002)
    assert connection.remote_params == {"use_ssl": "true", "user_id": "etl"}


def test_remote_port_defaults_to_15002() -> None:
    assert parse({"remote": "sc://spark.example"}).remote_port == 15002


def test_a_token_inside_the_remote_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"remote": "sc://h:15002/;token=hunter2-in-url"})
    assert "credentials.token" in caught.value.message and "hunter2" not in str(caught.value)


@pytest.mark.parametrize("remote", ["http://h:15002", "sc://h:99999", "sc://h:1/path", "sc://h:1/;bogus=1"])
def test_malformed_remote_urls_are_refused(remote: str) -> None:
    with pytest.raises(ConfigError):
        parse({"remote": remote})


def test_master_and_remote_together_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"master": "local[2]", "remote": "sc://h:15002"})
    assert "not both" in caught.value.message


def test_conf_values_become_the_strings_spark_reads() -> None:
    conf = parse({"conf": {"spark.sql.shuffle.partitions": 8, "spark.sql.ansi.enabled": True}}).conf
    assert conf == {"spark.sql.shuffle.partitions": "8", "spark.sql.ansi.enabled": "true"}


@pytest.mark.parametrize("key", ["spark.master", "spark.remote", "spark.app.name"])
def test_conf_cannot_override_the_dedicated_fields(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"conf": {key: "x"}})
    assert key in caught.value.message


@pytest.mark.parametrize(
    "key", ["spark.hadoop.fs.s3a.secret.key", "spark.sql.catalog.lake.token", "spark.ssl.keyPassword"]
)
def test_secret_looking_conf_keys_are_refused_without_quoting_the_value(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"conf": {key: "s3cr3t-value"}})
    assert "secret" in caught.value.message and "s3cr3t" not in str(caught.value)


def test_conf_keys_must_be_spark_settings() -> None:
    with pytest.raises(ConfigError):
        parse({"conf": {"fs.s3a.endpoint": "x"}})


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"mastr": "local[2]"})
    assert "mastr" in caught.value.message


def test_dbt_thrift_needs_a_thrift_server_host() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"dbt": {"method": "thrift"}})
    assert "host" in caught.value.message


def test_memory_from_a_connect_server_reads_its_ui_on_port_4040_by_default() -> None:
    assert parse({"remote": "sc://spark.example:15002"}).default_ui_url() == "http://spark.example:4040"
