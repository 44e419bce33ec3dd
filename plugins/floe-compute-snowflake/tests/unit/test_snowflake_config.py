"""Snowflake target configurations: the typed model, credential rules and the connector's arguments.

No server here: these are the checks that run before any session opens (`validate_connection`
included, which must never open one).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from floe_compute_snowflake import SnowflakeComputePlugin
from floe_compute_snowflake.config import SnowflakeConnection
from floe_compute_snowflake.connection import backstop_seconds, connect_kwargs, private_key_der
from floe_tui.compute import (
    ComputeConfig,
    ComputeError,
    ConfigError,
    HealthState,
    LiteralSecretError,
    SecretResolutionError,
)

SECRET = "hunter2-Zq9-literal"
BASE = {"account": "xy12345.eu-west-1", "user": "floe", "database": "analytics", "schema": "floe"}


def config(connection: dict[str, Any] | None = None, **fields: Any) -> ComputeConfig:
    data: dict[str, Any] = {
        "name": "snowflake",
        "connection": {**BASE, **(connection or {})},
        "credentials": {"password": {"env": "FLOE_TEST_SF_PASSWORD"}},
        **fields,
    }
    return ComputeConfig.from_mapping(data)


def _assert_well_formed(error: ComputeError) -> None:
    assert error.code.startswith("FLOE-C1")
    assert error.message.strip() and error.hint.strip()
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("connection", "names"),
    [
        pytest.param({"warehous": "compute_wh"}, "warehous", id="misspelt-key"),
        pytest.param({"no_such_key": 1}, "no_such_key", id="unknown-key"),
        pytest.param({"schema_": "floe"}, "schema_", id="field-name-instead-of-the-key"),
        pytest.param({"account": None}, "account", id="account-missing"),
        pytest.param({"user": ""}, "user", id="user-empty"),
        pytest.param({"port": 70000}, "port", id="port-out-of-range"),
        pytest.param({"protocol": "ftp"}, "protocol", id="protocol-unknown"),
        pytest.param({"host": "https://xy12345.snowflakecomputing.com"}, "host", id="host-with-scheme"),
        pytest.param({"account": "xy 12345"}, "account", id="account-with-space"),
        pytest.param({"database": "ana\nlytics"}, "database", id="control-character"),
        pytest.param({"network_timeout_s": 0}, "network_timeout_s", id="network-timeout-not-finite"),
    ],
)
def test_bad_connection_is_a_config_error_naming_the_key(connection: dict[str, Any], names: str) -> None:
    data = {**BASE, **connection}
    data = {k: v for k, v in data.items() if v is not None}
    bad = config().model_copy(update={"connection": data})
    with pytest.raises(ConfigError) as caught:
        SnowflakeComputePlugin(bad).parse_connection(bad)
    _assert_well_formed(caught.value)
    assert names in caught.value.message
    result = SnowflakeComputePlugin().validate_connection(bad)
    assert result.success is False and names in result.message


def test_schema_is_taken_by_its_key_and_the_rest_is_optional() -> None:
    parsed = SnowflakeComputePlugin().parse_connection(config())
    assert isinstance(parsed, SnowflakeConnection)
    assert (parsed.schema_, parsed.database) == ("floe", "analytics")
    assert parsed.warehouse is None and parsed.host is None
    minimal = SnowflakeComputePlugin().parse_connection(
        config().model_copy(update={"connection": {"account": "a1", "user": "u"}})
    )
    assert minimal.schema_ is None and minimal.client_session_keep_alive is False


@pytest.mark.parametrize("key", ["password", "private_key", "private_key_passphrase", "passphrase"])
def test_literal_secret_in_connection_is_refused_without_quoting_it(key: str) -> None:
    data = {"name": "snowflake", "connection": {**BASE, key: SECRET}}
    with pytest.raises(LiteralSecretError) as caught:
        bad = ComputeConfig.from_mapping(data)  # the core knows password and private_key...
        SnowflakeComputePlugin(bad).parse_connection(bad)  # ...the plugin its own secret keys
    _assert_well_formed(caught.value)
    assert key in caught.value.message and SECRET not in str(caught.value)


def test_literal_password_in_a_manifest_is_e305_at_validate_time(tmp_path: Path) -> None:
    manifest = tmp_path / "enterprise.yaml"
    manifest.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: floe.dev/v1
            kind: Manifest
            metadata: {{name: corp, scope: enterprise}}
            environments: [dev]
            compute:
              approved:
                - name: snowflake
                  connection: {{account: xy12345, user: floe, password: {SECRET}}}
              default: snowflake
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "floe_tui.cli", "validate", "-m", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "FLOE-E305" in run.stdout + run.stderr and "password" in run.stdout + run.stderr
    assert SECRET not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        pytest.param({}, "no Snowflake credential", id="none"),
        pytest.param(
            {"password": {"env": "A"}, "private_key": {"file": "/k.pem"}}, "both a password", id="both"
        ),
        pytest.param({"private_key_passphrase": {"env": "A"}}, "passphrase but no private key", id="orphan"),
        pytest.param({"token": {"env": "A"}}, "unknown credential `token`", id="unknown-credential"),
    ],
)
def test_credential_rules(credentials: dict[str, Any], words: str) -> None:
    bad = config(credentials=credentials)
    result = SnowflakeComputePlugin().validate_connection(bad)
    assert result.success is False and words in result.message
    with pytest.raises(ConfigError) as caught:
        SnowflakeComputePlugin(bad).connect()
    _assert_well_formed(caught.value)
    assert words in caught.value.message


def test_validate_names_the_unset_variable_or_missing_file_never_a_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLOE_TEST_SF_PASSWORD", raising=False)
    result = SnowflakeComputePlugin().validate_connection(config())
    assert result.success is False and "FLOE_TEST_SF_PASSWORD" in result.message
    missing = tmp_path / "nope.pem"
    keyed = config(credentials={"private_key": {"file": str(missing)}})
    result = SnowflakeComputePlugin().validate_connection(keyed)
    assert result.success is False and "nope.pem" in result.message
    monkeypatch.setenv("FLOE_TEST_SF_PASSWORD", SECRET)
    result = SnowflakeComputePlugin().validate_connection(config())
    assert result.success, result.message
    assert SECRET not in str(result)
    with pytest.raises(SecretResolutionError):
        monkeypatch.delenv("FLOE_TEST_SF_PASSWORD")
        SnowflakeComputePlugin(config()).connect()


def test_validate_warns_about_plain_http_to_a_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_TEST_SF_PASSWORD", "x")
    remote = SnowflakeComputePlugin().validate_connection(config({"host": "10.1.2.3", "protocol": "http"}))
    assert remote.success and any("unencrypted" in w for w in remote.warnings)
    local = SnowflakeComputePlugin().validate_connection(config({"host": "127.0.0.1", "protocol": "http"}))
    assert local.success and local.warnings == []


def test_importing_and_validating_loads_no_driver() -> None:
    """`floe-tui validate` and the console's first paint never pay for snowflake.connector."""
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["FLOE_TEST_SF_PASSWORD"] = "x"
        from floe_tui.compute import ComputeConfig
        from floe_compute_snowflake import SnowflakeComputePlugin
        config = ComputeConfig.from_mapping({"name": "snowflake", "connection": {"account": "a", "user": "u",
            "host": "127.0.0.1", "port": 9, "protocol": "http"}, "credentials": {"password": {"env":
            "FLOE_TEST_SF_PASSWORD"}}})
        plugin = SnowflakeComputePlugin(config)
        assert plugin.validate_connection(config).success
        plugin.generate_dbt_profile(config.model_copy(update={"connection": {**config.connection,
            "database": "d", "schema": "s"}}), "dev")
        plugin.health_check(0.5)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("snowflake", "cryptography"))
        print(loaded)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", run.stdout


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_cli_on_the_clouds_sample_loads_no_driver(command: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from importlib import resources
        from floe_tui.cli import main
        clouds = str(resources.files("floe_tui_samples") / "clouds")
        code = main(["{command}", "-m", clouds])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("snowflake", "cryptography"))
        print(code, loaded, file=sys.stderr)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "0 []", run.stderr


def test_class_facts_of_a_cloud_engine() -> None:
    cls = SnowflakeComputePlugin
    assert (cls.min_poll_interval_s, cls.connect_on_view, cls.health_via) == (60.0, False, "check")
    assert cls.is_self_hosted is False
    assert cls.credential_names == {"password", "private_key", "private_key_passphrase"}
    plugin = SnowflakeComputePlugin(config())
    assert plugin.memory_stats() is None
    before = plugin.health_check(timeout=1)
    assert before.status is HealthState.UNHEALTHY and before.message


def test_connector_arguments_keep_the_network_quiet_and_bounded() -> None:
    connection = SnowflakeComputePlugin().parse_connection(config({"query_tag": "floe-tui"}))
    kwargs = connect_kwargs(
        connection, {"password": SecretStr(SECRET)}, login_timeout_s=12.5, default_timeout_s=60.2
    )
    assert kwargs["platform_detection_timeout_seconds"] == 0
    assert kwargs["network_timeout"] == 60 and kwargs["login_timeout"] == 13
    assert kwargs["client_session_keep_alive"] is False
    params = kwargs["session_parameters"]
    assert params["CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED"] is False
    assert params["STATEMENT_TIMEOUT_IN_SECONDS"] == 71 == backstop_seconds(60.2)
    assert params["QUERY_TAG"] == "floe-tui"
    assert kwargs["schema"] == "floe" and "host" not in kwargs and "protocol" not in kwargs
    assert kwargs["password"] == SECRET  # handed to the connector only, never logged (see below)
    local = SnowflakeComputePlugin().parse_connection(
        config({"host": "127.0.0.1", "port": 18765, "protocol": "http", "client_session_keep_alive": True})
    )
    kwargs = connect_kwargs(local, {"password": SecretStr(SECRET)}, login_timeout_s=1, default_timeout_s=1)
    assert (kwargs["host"], kwargs["port"], kwargs["protocol"]) == ("127.0.0.1", 18765, "http")
    assert kwargs["client_session_keep_alive"] is True


def _pem(passphrase: bytes | None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem.decode()


def test_private_key_becomes_der_for_key_pair_auth() -> None:
    pem = _pem(b"open-sesame")
    der = private_key_der(pem, "open-sesame")
    assert serialization.load_der_private_key(der, password=None).key_size == 2048  # type: ignore[union-attr]
    connection = SnowflakeComputePlugin().parse_connection(config())
    kwargs = connect_kwargs(
        connection,
        {"private_key": SecretStr(pem), "private_key_passphrase": SecretStr("open-sesame")},
        login_timeout_s=5,
        default_timeout_s=5,
    )
    assert kwargs["authenticator"] == "SNOWFLAKE_JWT" and kwargs["private_key"] == der
    assert "password" not in kwargs


@pytest.mark.parametrize(
    ("pem", "passphrase", "hint"),
    [
        pytest.param(_pem(b"right"), "wrong", "passphrase", id="wrong-passphrase"),
        pytest.param(_pem(b"right"), None, "passphrase", id="encrypted-without-passphrase"),
        pytest.param("not a key at all " + SECRET, None, "PEM private key", id="not-pem"),
    ],
)
def test_unreadable_private_key_is_a_config_error(pem: str, passphrase: str | None, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        private_key_der(pem, passphrase)
    _assert_well_formed(caught.value)
    assert hint in caught.value.hint
    assert SECRET not in str(caught.value) and "BEGIN" not in caught.value.message


def test_the_backstop_is_the_timeout_rounded_up_plus_ten_seconds() -> None:
    assert backstop_seconds(2.5) == math.ceil(2.5) + 10
