"""The `connection` model, credentials and what the plugin declares: all offline, no connector call."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_compute_databricks import DatabricksComputePlugin
from floe_compute_databricks.config import DatabricksConnection
from floe_tui.compute import (
    ComputeConfig,
    ComputeError,
    ConfigError,
    LiteralSecretError,
    SecretResolutionError,
    discover_plugins,
)
from floe_tui.governance import compile_manifests

Target = Callable[..., ComputeConfig]
GOOD = {"host": "adb-1234567890123456.7.azuredatabricks.net", "http_path": "/sql/1.0/warehouses/abc123"}


def parse(connection: dict[str, Any]) -> DatabricksConnection:
    config = ComputeConfig.from_mapping({"name": "dbx", "connection": connection})
    return DatabricksComputePlugin(config).parse_connection(config)


def test_a_warehouse_target_parses_with_its_defaults() -> None:
    parsed = parse({**GOOD, "catalog": "main", "schema": "analytics"})

    assert (parsed.port, parsed.catalog, parsed.schema_) == (443, "main", "analytics")
    assert parsed.warehouse_id == "abc123"
    assert parsed.workspace_url == "https://adb-1234567890123456.7.azuredatabricks.net"
    assert parse({**GOOD, "http_path": "/sql/1.0/endpoints/0f1e"}).warehouse_id == "0f1e"
    assert parse({**GOOD, "host": "127.0.0.1", "port": 8443}).workspace_url == "https://127.0.0.1:8443"
    assert parse({**GOOD, "host": "::1"}).workspace_url == "https://[::1]"


# Every case: what the connection holds, the field the error must name, and a value it must not quote.
BAD_CONNECTIONS = [
    pytest.param({"http_path": GOOD["http_path"]}, "host", None, id="missing-host"),
    pytest.param({"host": GOOD["host"]}, "http_path", None, id="missing-http_path"),
    pytest.param(
        {**GOOD, "http_path": "/sql/protocolv1/o/1234/0123-456789-abcd"},
        "http_path",
        "0123-456789",
        id="cluster-path",
    ),
    pytest.param(
        {**GOOD, "http_path": "sql/1.0/warehouses/deadbeef"}, "http_path", "deadbeef", id="no-leading-slash"
    ),
    pytest.param(
        {**GOOD, "http_path": "/sql/1.0/warehouses/DEADBEEF"}, "http_path", "DEADBEEF", id="upper-case-id"
    ),
    pytest.param(
        {**GOOD, "http_path": "/sql/1.0/warehouses/deadbeef/"}, "http_path", "deadbeef", id="trailing-slash"
    ),
    pytest.param(
        {**GOOD, "host": "https://adb-1.azuredatabricks.net"}, "host", "adb-1", id="host-with-scheme"
    ),
    pytest.param({**GOOD, "host": "adb-1.azuredatabricks.net:443"}, "host", "adb-1", id="host-with-port"),
    pytest.param({**GOOD, "host": "adb_1 .net"}, "host", "adb_1", id="host-not-a-name"),
    pytest.param({**GOOD, "port": 0}, "port", None, id="port-zero"),
    pytest.param({**GOOD, "port": "https"}, "port", "https", id="port-not-a-number"),
    pytest.param({**GOOD, "schema": "main.analytics"}, "schema", "main.analytics", id="schema-with-a-dot"),
    pytest.param({**GOOD, "catalog": "a b"}, "catalog", "a b", id="catalog-with-a-space"),
    pytest.param({**GOOD, "warehouse_id": "abc123"}, "warehouse_id", None, id="unknown-key"),
]


@pytest.mark.parametrize(("connection", "field", "secretish"), BAD_CONNECTIONS)
def test_bad_connections_are_config_errors_naming_the_field(
    connection: dict[str, Any], field: str, secretish: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(connection)

    error = caught.value
    assert error.code == "FLOE-C100" and error.hint
    assert f"connection `{field}`" in error.message
    if secretish is not None:
        assert secretish not in str(error), "errors name the rule, never the value"


def test_the_http_path_error_says_what_a_warehouse_path_looks_like() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({**GOOD, "http_path": "/sql/protocolv1/o/1/2"})

    assert "/sql/1.0/warehouses/<id>" in caught.value.message


def test_a_literal_token_in_connection_is_refused_without_quoting_it() -> None:
    with pytest.raises(LiteralSecretError) as caught:
        ComputeConfig.from_mapping({"name": "dbx", "connection": {**GOOD, "token": "dapiLITERAL123"}})

    assert caught.value.code == "FLOE-C101" and "dapiLITERAL123" not in str(caught.value)


@pytest.mark.parametrize(
    ("connection", "code"),
    [
        pytest.param({**GOOD, "token": "dapiLITERAL123"}, "FLOE-E305", id="literal-token"),
        pytest.param({"host": GOOD["host"]}, "FLOE-E304", id="missing-http_path"),
    ],
)
def test_manifests_report_a_literal_token_and_a_bad_connection(
    tmp_path: Path, connection: dict[str, Any], code: str
) -> None:
    manifest = {
        "apiVersion": "floe.dev/v1",
        "kind": "Manifest",
        "metadata": {"name": "acme", "scope": "enterprise", "owner": "platform@example.invalid"},
        "compute": {
            "approved": [{"name": "dbx", "plugin": "databricks", "connection": connection}],
            "default": "dbx",
        },
    }
    (tmp_path / "enterprise.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))

    plan = compile_manifests(tmp_path / "enterprise.yaml")

    assert [d.code for d in plan.diagnostics] == [code], [(d.code, d.message) for d in plan.diagnostics]
    assert all("dapiLITERAL123" not in f"{d.message} {d.hint}" for d in plan.diagnostics)


def test_the_closed_port_hierarchy_compiles_cleanly(closed_port_manifests: Path) -> None:
    plan = compile_manifests(closed_port_manifests)

    assert plan.ok, [(d.code, d.message) for d in plan.diagnostics]
    databricks = next(t for t in plan.targets["dev"] if t.name == "databricks")
    assert databricks.plugin == "databricks"
    assert databricks.connection["host"] == "127.0.0.1" and databricks.connection["port"] == 1


def test_credentials_other_than_token_are_refused() -> None:
    config = ComputeConfig.from_mapping(
        {"name": "dbx", "connection": GOOD, "credentials": {"password": {"env": "X"}}}
    )

    with pytest.raises(ConfigError) as caught:
        DatabricksComputePlugin(config).parse_connection(config)

    assert "password" in caught.value.message and "token" in caught.value.hint


def test_validate_connection_checks_references_without_connecting(target: Target, token: str) -> None:
    plugin = DatabricksComputePlugin()

    good = plugin.validate_connection(target())
    no_token = plugin.validate_connection(target(credentials={}))
    unset = plugin.validate_connection(target(credentials={"token": {"env": "FLOE_TEST_UNSET_VARIABLE"}}))
    other_port = plugin.validate_connection(target(port=8443))

    assert good.success and good.warnings == [], good.message
    assert not no_token.success and "credential `token`" in no_token.message
    assert not unset.success and "FLOE-C103" in unset.message and "FLOE_TEST_UNSET_VARIABLE" in unset.message
    assert other_port.success and "443" in other_port.warnings[0]
    assert token not in " ".join(r.model_dump_json() for r in (good, no_token, unset, other_port))


def test_connect_with_the_token_variable_unset_fails_before_any_network_call(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_TEST_DATABRICKS_TOKEN", raising=False)
    plugin = DatabricksComputePlugin(target())

    with pytest.raises(SecretResolutionError) as caught:
        plugin.connect()

    assert caught.value.code == "FLOE-C103" and "FLOE_TEST_DATABRICKS_TOKEN" in caught.value.message
    assert caught.value.hint and plugin.pool is None


def test_connect_without_a_token_credential_is_a_config_error(target: Target) -> None:
    plugin = DatabricksComputePlugin(target(credentials={}))

    with pytest.raises(ComputeError) as caught:
        plugin.connect()

    assert caught.value.code == "FLOE-C100" and "token" in caught.value.hint


def test_the_plugin_is_found_through_its_entry_point() -> None:
    found = discover_plugins()

    assert found.plugins.get("databricks") is DatabricksComputePlugin, found


def test_health_polls_are_rare_and_a_view_does_not_connect() -> None:
    assert DatabricksComputePlugin.min_poll_interval_s == 60.0
    assert DatabricksComputePlugin.connect_on_view is False
    assert DatabricksComputePlugin.is_self_hosted is False
    assert DatabricksComputePlugin().memory_stats() is None


def test_importing_the_plugin_loads_neither_the_connector_nor_the_sdk() -> None:
    probe = (
        "import sys, floe_compute_databricks, floe_compute_databricks.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('databricks', 'pandas', 'thrift')))"
    )

    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )

    assert run.stdout.strip() == "[]" and run.stderr == ""
