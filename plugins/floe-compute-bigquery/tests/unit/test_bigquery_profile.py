"""generate_dbt_profile: what dbt-bigquery reads, secrets only as references.

That dbt-bigquery accepts these outputs is checked by the real dbt against the emulator
(`dbt debug` in the compliance suite, `dbt seed` and `dbt run` in test_bigquery_dbt.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError, unresolved_credentials

PLUGIN = BigQueryComputePlugin()


def target(credentials: dict[str, Any], **connection: Any) -> ComputeConfig:
    return ComputeConfig.from_mapping(
        {
            "name": "bq",
            "connection": {"project": "my-project", "dataset": "analytics", **connection},
            "credentials": credentials,
            "query_timeout_s": 120.5,
            "pool": {"size": 3},
        }
    )


def test_token_profile_reads_the_token_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BQ_TOKEN_UNIT", "ya29.secret-value")
    output = PLUGIN.generate_dbt_profile(target({"token": {"env": "BQ_TOKEN_UNIT"}}), "dev")
    assert output == {
        "type": "bigquery",
        "method": "oauth-secrets",
        "token": "{{ env_var('BQ_TOKEN_UNIT') }}",
        "project": "my-project",
        "dataset": "analytics",
        "threads": 3,
        "priority": "interactive",
        "job_execution_timeout_seconds": 121,
        "job_retries": 0,
    }
    assert "ya29.secret-value" not in yaml.safe_dump(output)


def test_keyfile_profile_names_the_file_never_its_contents(tmp_path: Path) -> None:
    keyfile = tmp_path / "sa.json"
    keyfile.write_text('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----"}')
    output = PLUGIN.generate_dbt_profile(target({"keyfile": {"file": str(keyfile)}}), "prod")
    assert output["method"] == "service-account" and output["keyfile"] == str(keyfile)
    assert "PRIVATE KEY" not in yaml.safe_dump(output)


def test_optional_fields_are_passed_when_set() -> None:
    config = target(
        {"token": {"env": "T"}},
        location="EU",
        maximum_bytes_billed="1GB",
        priority="batch",
        api_endpoint="http://127.0.0.1:19150",
    )
    output = PLUGIN.generate_dbt_profile(config, "dev")
    assert output["location"] == "EU" and output["maximum_bytes_billed"] == 1_000_000_000
    assert output["priority"] == "batch" and output["api_endpoint"] == "http://127.0.0.1:19150"


def test_an_unset_token_variable_still_gives_a_profile_and_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BQ_TOKEN_NOT_SET", raising=False)
    config = target({"token": {"env": "BQ_TOKEN_NOT_SET"}})
    output = PLUGIN.generate_dbt_profile(config, "dev")
    assert output["token"] == "{{ env_var('BQ_TOKEN_NOT_SET') }}"
    warnings = unresolved_credentials(config)
    assert warnings and "BQ_TOKEN_NOT_SET" in warnings[0] and "not set" in warnings[0]


def test_a_token_in_a_file_cannot_go_into_a_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        PLUGIN.generate_dbt_profile(target({"token": {"file": str(tmp_path / "token")}}), "dev")
    assert "file reference" in caught.value.message and "{env: NAME}" in caught.value.hint


def test_dbt_needs_a_dataset() -> None:
    config = ComputeConfig.from_mapping(
        {"name": "bq", "connection": {"project": "my-project"}, "credentials": {"token": {"env": "T"}}}
    )
    with pytest.raises(ConfigError) as caught:
        PLUGIN.generate_dbt_profile(config, "dev")
    assert "dataset" in caught.value.message and "connection.dataset" in caught.value.hint
