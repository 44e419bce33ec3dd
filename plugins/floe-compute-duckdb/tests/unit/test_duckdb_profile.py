"""generate_dbt_profile as data; dbt itself reads these profiles in integration/test_duckdb_dbt.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from floe_compute_duckdb import DuckDBComputePlugin
from floe_compute_duckdb.config import extension_file
from floe_tui.compute import ComputeConfig, ConfigError

Target = Callable[..., ComputeConfig]
S3_REFS = {"s3_key_id": {"env": "FLOE_TEST_KEY_ID"}, "s3_secret": {"env": "FLOE_TEST_SECRET"}}


def profile(config: ComputeConfig) -> dict[str, object]:
    return DuckDBComputePlugin().generate_dbt_profile(config, "dev")


def test_file_profile_passes_engine_settings_as_config_options(target: Target, tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    config = target({"path": path, "threads": 3, "memory_limit": "1GB", "temp_directory": str(tmp_path)})

    assert profile(config) == {
        "type": "duckdb",
        "path": path,
        "threads": 3,
        "config_options": {
            "autoinstall_known_extensions": False,
            "memory_limit": "1GB",
            "threads": 3,
            "temp_directory": str(tmp_path),
        },
    }


def test_profile_never_uses_dbt_duckdb_settings(target: Target, tmp_path: Path) -> None:
    # dbt-duckdb runs `SET key = '<value>'` for `settings` without quoting the value.
    output = profile(target({"memory_limit": "1GB", "temp_directory": str(tmp_path / "it's")}))

    assert "settings" not in output


def test_default_profile_is_one_dbt_thread_without_downloads(target: Target) -> None:
    assert profile(target()) == {
        "type": "duckdb",
        "path": ":memory:",
        "threads": 1,
        "config_options": {"autoinstall_known_extensions": False},
    }


def test_read_only_profile_opens_the_file_read_only(target: Target, tmp_path: Path) -> None:
    output = profile(target({"path": str(tmp_path / "w.duckdb"), "read_only": True}))

    assert output["config_options"] == {"autoinstall_known_extensions": False, "access_mode": "READ_ONLY"}


def test_extensions_are_package_files_in_load_order(target: Target) -> None:
    output = profile(target({"extensions": ["iceberg"]}))

    assert output["extensions"] == [str(extension_file(n)) for n in ("avro", "httpfs", "iceberg")]
    assert all(Path(str(p)).is_file() for p in output["extensions"])  # type: ignore[attr-defined]


def test_credentials_are_env_var_templates(target: Target) -> None:
    output = profile(target(credentials=S3_REFS))

    assert output["secrets"] == [
        {
            "type": "s3",
            "key_id": "{{ env_var('FLOE_TEST_KEY_ID') }}",
            "secret": "{{ env_var('FLOE_TEST_SECRET') }}",
        }
    ]


def test_profile_never_holds_the_secret_values(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_TEST_KEY_ID", "AKIA-VALUE-NOT-IN-PROFILE")
    monkeypatch.setenv("FLOE_TEST_SECRET", "secret-value-not-in-profile")

    text = yaml.safe_dump(profile(target(credentials=S3_REFS)))

    assert "VALUE-NOT-IN-PROFILE" not in text
    assert "value-not-in-profile" not in text


def test_credentials_bring_httpfs_which_defines_s3_secrets(target: Target) -> None:
    output = profile(target(credentials=S3_REFS))

    assert output["extensions"] == [str(extension_file("httpfs"))]


def test_file_reference_credential_cannot_go_into_a_profile(target: Target, tmp_path: Path) -> None:
    config = target(credentials={"s3_key_id": {"env": "KEY"}, "s3_secret": {"file": str(tmp_path / "s")}})

    with pytest.raises(ConfigError) as caught:
        profile(config)

    assert "s3_secret" in caught.value.message
    assert "{env: NAME}" in caught.value.hint


def test_half_of_the_s3_credentials_is_a_config_error(target: Target) -> None:
    with pytest.raises(ConfigError) as caught:
        profile(target(credentials={"s3_key_id": {"env": "KEY"}}))

    assert "s3_secret" in caught.value.message
