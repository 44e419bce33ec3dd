"""The BigQuery target's `connection` model and credentials: bad input is a ComputeError that
names the rule and the field, never the value."""

from __future__ import annotations

from typing import Any

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, LiteralSecretError

TOKEN = {"token": {"env": "FLOE_BQ_UNIT_TOKEN"}}


def config(connection: dict[str, Any], credentials: dict[str, Any] | None = None) -> ComputeConfig:
    return ComputeConfig.from_mapping(
        {"name": "bq", "connection": connection, "credentials": TOKEN if credentials is None else credentials}
    )


def parse(connection: dict[str, Any], credentials: dict[str, Any] | None = None) -> Any:
    target = config(connection, credentials)
    return BigQueryComputePlugin(target).parse_connection(target)


def refused(connection: dict[str, Any], credentials: dict[str, Any] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(connection, credentials)
    error = caught.value
    assert error.code.startswith("FLOE-C1") and error.message and error.hint
    return error


@pytest.mark.parametrize("project", ["my-project", "test-proj", "a12345", "example.com:my-project"])
def test_project_ids_google_accepts(project: str) -> None:
    assert parse({"project": project}).project == project


@pytest.mark.parametrize(
    "project", ["My-Project", "abc", "1project", "project-", "has space", "x" * 31, "under_score"]
)
def test_an_invalid_project_id_is_refused_without_quoting_it(project: str) -> None:
    error = refused({"project": project})
    assert "`project`" in error.message and "project id" in error.message
    assert project not in str(error)


def test_project_is_required() -> None:
    error = refused({"dataset": "d"})
    assert "`project`" in error.message


def test_full_connection() -> None:
    parsed = parse(
        {
            "project": "my-project",
            "dataset": "analytics_1",
            "location": "europe-west1",
            "maximum_bytes_billed": "10GB",
            "priority": "batch",
            "api_endpoint": "https://bigquery-psc.p.example.internal/",
        }
    )
    assert parsed.maximum_bytes_billed == 10_000_000_000
    assert parsed.api_endpoint == "https://bigquery-psc.p.example.internal"
    assert parsed.priority == "batch" and parsed.location == "europe-west1"
    assert not parsed.local


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("dataset", "bad-name", "dataset name"),
        ("location", "us central", "location"),
        ("maximum_bytes_billed", "lots", "size"),
        ("maximum_bytes_billed", 0, "greater than 0"),
        ("priority", "urgent", "interactive"),
    ],
)
def test_bad_values_name_the_field_and_the_rule(field: str, value: Any, rule: str) -> None:
    error = refused({"project": "my-project", field: value})
    assert f"`{field}`" in error.message and rule in error.message
    if isinstance(value, str):
        assert value not in error.message


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        ("http://bigquery.example.internal", "loopback"),
        ("http://10.0.0.7:9050", "loopback"),
        ("https://user:pw@bigquery.example.internal", "user or password"),
        ("https://bigquery.example.internal/bigquery/v2", "root URL"),
        ("ftp://127.0.0.1", "http(s)"),
        ("127.0.0.1:9050", "http(s)"),
        ("http://127.0.0.1:99999", "URL"),
    ],
)
def test_api_endpoint_rules(endpoint: str, rule: str) -> None:
    error = refused({"project": "my-project", "api_endpoint": endpoint})
    assert "`api_endpoint`" in error.message and rule in error.message
    assert "pw@" not in str(error)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9050", "http://localhost:1", "http://[::1]:9050"])
def test_plain_http_to_a_local_server(endpoint: str) -> None:
    parsed = parse({"project": "my-project", "api_endpoint": endpoint})
    assert parsed.local and parsed.api_endpoint == endpoint


def test_unknown_key_is_refused() -> None:
    error = refused({"project": "my-project", "dataset_id": "d"})
    assert "dataset_id" in error.message and error.hint == "remove the key"


def test_a_literal_token_in_connection_is_refused() -> None:
    with pytest.raises(LiteralSecretError) as caught:
        config({"project": "my-project", "token": "ya29.literal"})
    assert "ya29" not in str(caught.value)


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        ({}, "keyfile or token"),
        ({**TOKEN, "keyfile": {"file": "/tmp/sa.json"}}, "not both"),
        ({"keyfile": {"env": "SA_JSON"}}, "file reference"),
        ({"password": {"env": "X"}}, "unknown credential"),
    ],
)
def test_exactly_one_credential(credentials: dict[str, Any], says: str) -> None:
    error = refused({"project": "my-project"}, credentials)
    assert says in error.message and error.hint


def test_validate_connection_reports_config_errors() -> None:
    target = config({"project": "Bad_Project"})
    result = BigQueryComputePlugin().validate_connection(target)
    assert not result.success and "FLOE-C100" in result.message and "Bad_Project" not in result.message
