"""Bad configurations found when connecting: clear ComputeErrors, no secret quoted, nothing left open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import (
    ComputeConfig,
    ComputeError,
    ConfigError,
    ConnectionFailedError,
    HealthState,
    SecretResolutionError,
)

Target = Callable[..., ComputeConfig]
SECRET = "s3cret-VALUE-never-printed"


def connect_fails(config: ComputeConfig) -> ComputeError:
    """Connect, expect a ComputeError, and check that nothing stayed open."""
    plugin = DuckDBComputePlugin(config)
    with pytest.raises(ComputeError) as caught:
        plugin.connect()
    stats = plugin.pool_stats()
    assert not plugin.is_connected
    assert (stats.size, stats.in_use, stats.created - stats.closed) == (0, 0, 0)
    error = caught.value
    assert error.code.startswith("FLOE-C") and error.message and error.hint
    return error


def test_missing_directory_is_a_config_error(target: Target, tmp_path: Path) -> None:
    error = connect_fails(target({"path": str(tmp_path / "no-such-dir" / "w.duckdb")}))

    assert isinstance(error, ConfigError)
    assert "directory" in error.message
    assert not (tmp_path / "no-such-dir").exists()


def test_path_that_is_a_directory_is_a_config_error(target: Target, tmp_path: Path) -> None:
    error = connect_fails(target({"path": str(tmp_path)}))

    assert isinstance(error, ConfigError)
    assert "is a directory" in error.message


@pytest.mark.parametrize("path", [":memory:", "w.duckdb"])
def test_temp_directory_without_parent_is_a_config_error(target: Target, tmp_path: Path, path: str) -> None:
    database = path if path == ":memory:" else str(tmp_path / path)

    error = connect_fails(target({"path": database, "temp_directory": str(tmp_path / "a" / "b")}))

    assert isinstance(error, ConfigError)
    assert "temp_directory" in error.message
    assert not (tmp_path / "w.duckdb").exists()


def test_read_only_path_that_is_a_directory_says_so(target: Target, tmp_path: Path) -> None:
    error = connect_fails(target({"path": str(tmp_path), "read_only": True}))

    assert isinstance(error, ConfigError)
    assert "is a directory" in error.message


def test_file_that_is_not_a_database_is_a_connection_error(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are notes, not a DuckDB database\n" * 100)

    error = connect_fails(target({"path": str(path)}))

    assert isinstance(error, ConnectionFailedError)
    assert "\n" not in str(error)


def test_memory_limit_too_small_to_work_is_unhealthy_in_one_line(
    open_plugin: Callable[..., DuckDBComputePlugin],
) -> None:
    plugin = open_plugin({"memory_limit": "1KB"})  # DuckDB takes it, then cannot allocate

    status = plugin.health_check(timeout=5)

    assert status.status is HealthState.UNHEALTHY
    assert status.message.startswith("FLOE-C400: DuckDB could not report its memory: Out of Memory")
    assert "\n" not in status.message


def test_unset_credential_variable_names_the_variable_only(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_TEST_UNSET_SECRET", raising=False)
    monkeypatch.setenv("FLOE_TEST_KEY_ID", SECRET)
    config = target(
        credentials={"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}, "s3_secret": {"env": "FLOE_TEST_UNSET_SECRET"}}
    )

    error = connect_fails(config)

    assert isinstance(error, SecretResolutionError)
    assert "FLOE_TEST_UNSET_SECRET" in error.message
    assert SECRET not in str(error)


def test_half_of_the_s3_credentials_fails_connect_without_quoting_it(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_TEST_KEY_ID", SECRET)

    error = connect_fails(target(credentials={"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}}))

    assert isinstance(error, ConfigError)
    assert SECRET not in str(error)


def test_secret_with_a_control_character_leaves_no_database_open(
    target: Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOE_TEST_KEY_ID", "key")
    monkeypatch.setenv("FLOE_TEST_SECRET", SECRET + "\x1b")
    path = tmp_path / "w.duckdb"
    credentials = {"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}, "s3_secret": {"env": "FLOE_TEST_SECRET"}}

    error = connect_fails(target({"path": str(path)}, credentials=credentials))

    assert isinstance(error, ConfigError)
    assert SECRET not in str(error)
    assert not path.exists()


def test_s3_credentials_create_a_secret_without_showing_it(
    target: Target,
    monkeypatch: pytest.MonkeyPatch,
    open_plugin: Callable[..., DuckDBComputePlugin],
    query: Any,
) -> None:
    monkeypatch.setenv("FLOE_TEST_KEY_ID", "AKIAFLOETEST")
    monkeypatch.setenv("FLOE_TEST_SECRET", SECRET)
    credentials = {"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}, "s3_secret": {"env": "FLOE_TEST_SECRET"}}
    plugin = open_plugin(credentials=credentials)

    secrets = query(plugin, "SELECT name, type, secret_string FROM duckdb_secrets()")

    assert [(s["name"], s["type"]) for s in secrets] == [("floe_s3", "s3")]
    assert SECRET not in secrets[0]["secret_string"]


@pytest.mark.parametrize(
    ("connection", "fragment"),
    [
        pytest.param({"threads": "many"}, "threads", id="wrong-type"),
        pytest.param({"unknown": 1}, "unknown", id="unknown-key"),
        pytest.param({"extensions": ["no such"]}, "extensions", id="bad-extension-name"),
    ],
)
def test_invalid_connection_fails_connect_before_opening(
    target: Target, connection: dict[str, Any], fragment: str
) -> None:
    error = connect_fails(target(connection))

    assert isinstance(error, ConfigError)
    assert fragment in error.message


def test_validate_connection_reports_without_raising(target: Target, tmp_path: Path) -> None:
    result = DuckDBComputePlugin().validate_connection(target({"path": str(tmp_path / "x" / "w.duckdb")}))

    assert result.success is False
    assert result.message.startswith("FLOE-C100")


def test_validate_connection_checks_s3_credentials_need_httpfs_and_both_halves(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_TEST_KEY_ID", SECRET)

    result = DuckDBComputePlugin().validate_connection(
        target(credentials={"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}})
    )

    assert result.success is False
    assert "s3_secret" in result.message
    assert SECRET not in result.message
