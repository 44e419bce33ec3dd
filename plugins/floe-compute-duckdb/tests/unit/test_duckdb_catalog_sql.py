"""get_catalog_attachment_sql: identifiers and literals validated and quoted."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import CatalogConfig, ConfigError, SecretRef

URI = "http://127.0.0.1:8181"


def attach_sql(**fields: object) -> str:
    sql = DuckDBComputePlugin().get_catalog_attachment_sql(
        CatalogConfig(**{"name": "lake", "uri": URI, **fields})
    )
    assert sql is not None
    return sql


def test_attach_sql_for_a_catalog_without_token() -> None:
    assert attach_sql(warehouse="wh") == (
        f"ATTACH 'wh' AS \"lake\" (TYPE ICEBERG, ENDPOINT '{URI}', AUTHORIZATION_TYPE 'none')"
    )


def test_attach_sql_names_the_token_secret_and_never_the_token() -> None:
    sql = attach_sql(warehouse="wh", token=SecretRef(env="LAKE_TOKEN"))

    assert 'SECRET "floe_catalog_lake"' in sql
    assert "AUTHORIZATION_TYPE" not in sql
    assert "LAKE_TOKEN" not in sql


def test_single_quote_in_warehouse_is_doubled() -> None:
    sql = attach_sql(warehouse="it's")

    assert sql.startswith("ATTACH 'it''s' AS")


def test_quoted_warehouse_parses_back_to_the_same_string() -> None:
    warehouse = "a'b''c\"d; DROP TABLE x; --"
    sql = attach_sql(warehouse=warehouse)
    literal = sql.removeprefix("ATTACH ").split(" AS ")[0]

    assert duckdb.connect().execute(f"SELECT {literal}").fetchone() == (warehouse,)


@pytest.mark.parametrize("control", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f"], ids=repr)
def test_control_character_in_warehouse_is_refused(control: str) -> None:
    with pytest.raises(ConfigError) as caught:
        attach_sql(warehouse=f"wh{control}x")

    assert caught.value.code == "FLOE-C100"
    assert control not in str(caught.value)


@pytest.mark.parametrize("name", ["la ke", 'lake"; DROP', "1lake", "lake-1", "", "x" * 64])
def test_catalog_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(ValidationError):
        CatalogConfig(name=name, uri=URI)


@pytest.mark.parametrize(
    "uri",
    ["http://h/a'b", 'http://h/a"b', "http://h/a\\b", "http://h/a b", "ftp://h", "h:8181", "http://"],
)
def test_catalog_uri_with_quote_space_or_other_scheme_is_refused(uri: str) -> None:
    with pytest.raises(ValidationError):
        CatalogConfig(name="lake", uri=uri)


def test_control_character_in_uri_is_refused() -> None:
    # CatalogConfig's pattern lets \x01 through today; the literal quoting refuses it then.
    with pytest.raises((ConfigError, ValidationError)):
        attach_sql(uri="http://h/\x01")
