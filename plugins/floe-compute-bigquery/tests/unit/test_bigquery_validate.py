"""validate_connection without a job or a request: configuration, references, the keyfile.

A keyfile error names the file and never a byte of what it holds. The api_endpoint of these
targets is a loopback port nothing listens on: validation must not need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, SecretResolutionError
from floe_tui.testing import free_port

PLUGIN = BigQueryComputePlugin()


def target(credentials: dict[str, Any]) -> ComputeConfig:
    endpoint = f"http://127.0.0.1:{free_port()}"
    return ComputeConfig.from_mapping(
        {
            "name": "bq",
            "connection": {"project": "my-project", "dataset": "d", "api_endpoint": endpoint},
            "credentials": credentials,
        }
    )


def test_a_good_keyfile_validates_offline(make_keyfile: Callable[[str], Any]) -> None:
    keyfile = make_keyfile("http://127.0.0.1:9/token")
    result = PLUGIN.validate_connection(target({"keyfile": {"file": str(keyfile.path)}}))
    assert result.success, result.message


def test_a_token_from_its_variable_validates_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BQ_VALIDATE_TOKEN", "ya29.x")
    assert PLUGIN.validate_connection(target({"token": {"env": "BQ_VALIDATE_TOKEN"}})).success


def test_an_unset_token_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BQ_VALIDATE_UNSET", raising=False)
    result = PLUGIN.validate_connection(target({"token": {"env": "BQ_VALIDATE_UNSET"}}))
    assert not result.success
    assert SecretResolutionError.code in result.message and "BQ_VALIDATE_UNSET" in result.message


def test_a_keyfile_that_does_not_exist(tmp_path: Path) -> None:
    result = PLUGIN.validate_connection(target({"keyfile": {"file": str(tmp_path / "missing-sa.json")}}))
    assert not result.success
    assert SecretResolutionError.code in result.message and "missing-sa.json" in result.message


@pytest.mark.parametrize(
    ("contents", "says"),
    [
        ("not json at all: s3cr3t-bytes", "is not JSON"),
        (
            json.dumps({"type": "authorized_user", "refresh_token": "s3cr3t-bytes"}),
            "not a service-account key",
        ),
        (json.dumps(["s3cr3t-bytes"]), "not a service-account key"),
        (
            json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "s3cr3t-bytes"}),
            "token_uri",
        ),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "a@b",
                    "token_uri": "http://127.0.0.1:9/token",
                    "private_key": "-----BEGIN PRIVATE KEY-----\ns3cr3t-bytes\n-----END PRIVATE KEY-----\n",
                }
            ),
            "no usable private key",
        ),
    ],
)
def test_a_keyfile_that_is_not_a_service_account_key(tmp_path: Path, contents: str, says: str) -> None:
    keyfile = tmp_path / "bad-sa.json"
    keyfile.write_text(contents)
    config = target({"keyfile": {"file": str(keyfile)}})
    result = PLUGIN.validate_connection(config)
    assert not result.success and says in result.message and "bad-sa.json" in result.message
    assert ConfigError.code in result.message and "s3cr3t" not in result.message
    # Connecting refuses it the same way, before any request.
    with pytest.raises(ConfigError) as caught:
        BigQueryComputePlugin(config).connect()
    assert says in caught.value.message and "s3cr3t" not in str(caught.value) and caught.value.hint


def test_a_warning_when_real_bigquery_may_bill_any_amount(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BQ_VALIDATE_TOKEN", "ya29.x")
    config = ComputeConfig.from_mapping(
        {
            "name": "bq",
            "connection": {"project": "my-project"},
            "credentials": {"token": {"env": "BQ_VALIDATE_TOKEN"}},
        }
    )
    result = PLUGIN.validate_connection(config)
    assert result.success and any("maximum_bytes_billed" in w for w in result.warnings)
    capped = config.model_copy(
        update={"connection": {"project": "my-project", "maximum_bytes_billed": 10**9}}
    )
    assert PLUGIN.validate_connection(capped).warnings == []
