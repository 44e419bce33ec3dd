"""generate_dbt_profile, packages and presets of the Snowflake plugin (dbt itself runs in integration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, ResourceSpec

SECRET = "hunter2-Zq9-literal"


def config(connection: dict[str, Any] | None = None, **fields: Any) -> ComputeConfig:
    base = {"account": "xy12345.eu-west-1", "user": "floe", "database": "analytics", "schema": "floe"}
    return ComputeConfig.from_mapping(
        {
            "name": "snowflake",
            "connection": {**base, **(connection or {})},
            "credentials": fields.pop("credentials", {"password": {"env": "FLOE_SF_PASSWORD"}}),
            **fields,
        }
    )


def test_password_profile_reads_the_secret_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_SF_PASSWORD", SECRET)
    output = SnowflakeComputePlugin().generate_dbt_profile(
        config(
            {"warehouse": "compute_wh", "role": "analyst", "query_tag": "floe-tui"},
            pool={"connect_timeout_s": 9.5},
        ),
        "prod",
    )
    assert output == {
        "type": "snowflake",
        "account": "xy12345.eu-west-1",
        "user": "floe",
        "database": "analytics",
        "schema": "floe",
        "threads": 4,
        "client_session_keep_alive": False,
        "connect_timeout": 10,
        "connect_retries": 1,
        "role": "analyst",
        "warehouse": "compute_wh",
        "query_tag": "floe-tui",
        "password": "{{ env_var('FLOE_SF_PASSWORD') }}",
    }
    assert SECRET not in yaml.safe_dump(output)


def test_local_server_keys_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = SnowflakeComputePlugin()
    remote = plugin.generate_dbt_profile(config(), "dev")
    assert not {"host", "port", "protocol"} & set(remote)
    local = plugin.generate_dbt_profile(
        config({"host": "127.0.0.1", "port": 18765, "protocol": "http"}), "dev"
    )
    assert (local["host"], local["port"], local["protocol"]) == ("127.0.0.1", 18765, "http")


def test_an_unset_variable_still_gives_a_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_SF_PASSWORD", raising=False)  # CI often has no secrets
    output = SnowflakeComputePlugin().generate_dbt_profile(config(), "dev")
    assert output["password"] == "{{ env_var('FLOE_SF_PASSWORD') }}"


def test_key_pair_profiles(tmp_path: Path) -> None:
    key_file = tmp_path / "rsa_key.p8"
    plugin = SnowflakeComputePlugin()
    by_file = plugin.generate_dbt_profile(
        config(
            credentials={
                "private_key": {"file": str(key_file)},
                "private_key_passphrase": {"env": "FLOE_SF_KEY_PASSPHRASE"},
            }
        ),
        "dev",
    )
    assert by_file["authenticator"] == "snowflake_jwt"
    assert by_file["private_key_path"] == str(key_file) and "private_key" not in by_file
    assert by_file["private_key_passphrase"] == "{{ env_var('FLOE_SF_KEY_PASSPHRASE') }}"
    assert "password" not in by_file
    by_env = plugin.generate_dbt_profile(config(credentials={"private_key": {"env": "FLOE_SF_KEY"}}), "dev")
    assert by_env["private_key"] == "{{ env_var('FLOE_SF_KEY') }}" and "private_key_path" not in by_env


@pytest.mark.parametrize(
    ("connection", "credentials", "words"),
    [
        pytest.param({"database": None}, None, "connection.database", id="no-database"),
        pytest.param({"schema": None}, None, "connection.schema", id="no-schema"),
        pytest.param({}, {"password": {"file": "/run/secrets/sf"}}, "file reference", id="password-file"),
        pytest.param(
            {},
            {"private_key": {"file": "/k.p8"}, "private_key_passphrase": {"file": "/p"}},
            "file reference",
            id="passphrase-file",
        ),
    ],
)
def test_profiles_dbt_cannot_use_are_config_errors(
    connection: dict[str, Any], credentials: dict[str, Any] | None, words: str
) -> None:
    target = config(connection, **({"credentials": credentials} if credentials else {}))
    data = {k: v for k, v in target.connection.items() if v is not None}
    target = target.model_copy(update={"connection": data})
    with pytest.raises(ConfigError) as caught:
        SnowflakeComputePlugin().generate_dbt_profile(target, "dev")
    assert words in caught.value.message and caught.value.hint


def test_packages_and_presets() -> None:
    plugin = SnowflakeComputePlugin()
    names = {Requirement(r).name for r in plugin.get_required_packages()}
    assert names == {"snowflake-connector-python", "dbt-snowflake"}
    for size in ("small", "medium", "large"):
        spec = plugin.get_resource_requirements(size)  # type: ignore[arg-type]
        assert isinstance(spec, ResourceSpec) and spec.size == size
    with pytest.raises(ConfigError):
        plugin.get_resource_requirements("huge")  # type: ignore[arg-type]
    assert plugin.get_catalog_attachment_sql  # Snowflake attaches catalogs through integrations
