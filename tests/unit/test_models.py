from __future__ import annotations

from pathlib import Path

import pytest

from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    ConfigError,
    LiteralSecretError,
    SecretRef,
    SecretResolutionError,
)
from floe_tui.compute.models import parse_byte_size


def test_plugin_defaults_to_the_target_name() -> None:
    assert ComputeConfig.from_mapping({"name": "duckdb"}).plugin == "duckdb"
    assert ComputeConfig.from_mapping({"name": "lake", "plugin": "duckdb"}).plugin == "duckdb"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"name": "ok", "surprise": 1}, "surprise"),
        ({"name": "ok", "pool": {"size": -1}}, "pool.size"),
        ({"name": "ok", "pool": {"size": "four"}}, "pool.size"),
        ({"name": "ok", "query_timeout_s": 0}, "query_timeout_s"),
        ({"name": "ok", "credentials": {"token": {"env": "A", "file": "/x"}}}, "credentials.token"),
    ],
)
def test_invalid_config_names_the_field_not_the_value(data: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ComputeConfig.from_mapping(data)
    assert f"`{where}" in caught.value.message and caught.value.hint
    assert caught.value.code == "FLOE-C100"


@pytest.mark.parametrize(
    "data",
    [
        {"name": "ok", "connection": {"password": "hunter2"}},
        {"name": "ok", "connection": {"API_KEY": "hunter2"}},
        {"name": "ok", "credentials": {"token": "hunter2"}},
    ],
)
def test_literal_secrets_are_refused_without_echoing_them(data: dict[str, object]) -> None:
    with pytest.raises(LiteralSecretError) as caught:
        ComputeConfig.from_mapping(data)
    assert "hunter2" not in str(caught.value) and caught.value.code == "FLOE-C101"


def test_secret_ref_resolves_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOE_TEST_TOKEN", "abc")
    assert SecretRef(env="FLOE_TEST_TOKEN").resolve().get_secret_value() == "abc"
    secret_file = tmp_path / "token"
    secret_file.write_text("xyz\n")
    resolved = SecretRef(file=secret_file).resolve()
    assert resolved.get_secret_value() == "xyz" and "xyz" not in repr(resolved)


def test_unresolvable_secret_refs_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_MISSING", raising=False)
    with pytest.raises(SecretResolutionError) as caught:
        SecretRef(env="FLOE_MISSING").resolve()
    assert "export FLOE_MISSING" in caught.value.hint
    with pytest.raises(SecretResolutionError):
        SecretRef(file=tmp_path / "nope").resolve()


def test_catalog_config_refuses_hostile_names_and_urls() -> None:
    with pytest.raises(ValueError):
        CatalogConfig(name="x; DROP", uri="http://127.0.0.1:1")
    with pytest.raises(ValueError):
        CatalogConfig(name="lake", uri="http://h/'); DROP")


@pytest.mark.parametrize(
    ("text", "size"), [("1GB", 10**9), ("61.0 MiB", 61 * 2**20), ("512", 512), ("2 GiB", 2 * 2**30)]
)
def test_byte_sizes(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


def test_byte_size_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        parse_byte_size("lots")
