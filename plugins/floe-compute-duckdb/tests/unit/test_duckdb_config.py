"""Invalid DuckDB target configurations: each is a ComputeError with a code, message and hint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_compute_duckdb.config import DuckDBConnection
from floe_tui.compute import ComputeConfig, ComputeError, ConfigError, LiteralSecretError

SECRET = "hunter2-Zq9-literal"


def _assert_well_formed(error: ComputeError) -> None:
    assert error.code.startswith("FLOE-C1")
    assert error.message.strip()
    assert error.hint.strip()
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("connection", "bad_value"),
    [
        pytest.param({"threads": "many"}, "many", id="threads-wrong-type"),
        pytest.param({"threads": 0}, None, id="threads-zero"),
        pytest.param({"memory_limit": "lots-of-ram"}, "lots-of-ram", id="memory-limit-not-a-size"),
        pytest.param({"memory_limit": "0MB"}, None, id="memory-limit-zero"),
        pytest.param({"memory_limit": "300"}, "300", id="memory-limit-without-unit"),
        pytest.param({"read_only": "sometimes"}, "sometimes", id="read-only-not-a-bool"),
        pytest.param({"pathh": "typo.duckdb"}, "typo.duckdb", id="unknown-key"),
        pytest.param({"path": ""}, None, id="empty-path"),
        pytest.param({"extensions": ["Not An Extension"]}, "Not An Extension", id="extension-bad-name"),
        pytest.param({"extensions": "iceberg"}, None, id="extensions-not-a-list"),
        pytest.param({"read_only": True}, None, id="read-only-in-memory"),
    ],
)
def test_bad_connection_value_is_a_config_error(
    target: Callable[..., ComputeConfig], connection: dict[str, Any], bad_value: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        DuckDBComputePlugin().parse_connection(target(connection))

    _assert_well_formed(caught.value)
    if bad_value is not None:
        assert bad_value not in str(caught.value)


def test_unknown_key_names_the_key_and_says_to_remove_it(target: Callable[..., ComputeConfig]) -> None:
    with pytest.raises(ConfigError) as caught:
        DuckDBComputePlugin().parse_connection(target({"pathh": "typo.duckdb"}))

    assert "pathh" in caught.value.message
    assert caught.value.hint == "remove the key"


def test_negative_pool_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        ComputeConfig.from_mapping({"name": "duck", "pool": {"size": -7}})

    _assert_well_formed(caught.value)
    assert "pool.size" in caught.value.message
    assert "-7" not in str(caught.value)


@pytest.mark.parametrize("key", ["password", "token", "secret"])
def test_literal_secret_in_connection_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(LiteralSecretError) as caught:
        ComputeConfig.from_mapping({"name": "duck", "connection": {key: SECRET}})

    assert caught.value.code == "FLOE-C101"
    _assert_well_formed(caught.value)
    assert SECRET not in str(caught.value)


def test_literal_credential_is_refused_without_quoting_it() -> None:
    with pytest.raises(LiteralSecretError) as caught:
        ComputeConfig.from_mapping(
            {"name": "duck", "credentials": {"s3_key_id": {"env": "KEY"}, "s3_secret": SECRET}}
        )

    _assert_well_formed(caught.value)
    assert "s3_secret" in caught.value.message
    assert SECRET not in str(caught.value)


def test_unknown_credential_name_lists_the_accepted_ones(target: Callable[..., ComputeConfig]) -> None:
    config = target(credentials={"api_token": {"env": "SOME_TOKEN"}})

    with pytest.raises(ConfigError) as caught:
        DuckDBComputePlugin().parse_connection(config)

    _assert_well_formed(caught.value)
    assert "api_token" in caught.value.message
    assert "s3_key_id" in caught.value.hint and "s3_secret" in caught.value.hint


def test_iceberg_is_loaded_after_the_extensions_it_needs() -> None:
    connection = DuckDBConnection(extensions=["json", "iceberg", "httpfs"])

    assert connection.load_order() == ["avro", "httpfs", "iceberg"]


def test_s3_credentials_add_httpfs_to_the_load_order() -> None:
    connection = DuckDBConnection(extensions=["tpch"])

    assert connection.load_order(s3_credentials=True) == ["tpch", "httpfs"]


@pytest.mark.parametrize("path", [":memory:", ":memory:named"])
def test_memory_paths_are_in_memory(path: str) -> None:
    assert DuckDBConnection(path=path).in_memory


def test_a_file_path_is_not_in_memory(tmp_path: Any) -> None:
    assert not DuckDBConnection(path=str(tmp_path / "w.duckdb")).in_memory
