"""What the plugin hands the connector, how the libraries' errors map, and what a lost session does.

The exceptions here are the connector's and the SDK's own classes, built the way those libraries
raise them; no server is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from floe_compute_databricks import DatabricksComputePlugin
from floe_compute_databricks.config import DatabricksConnection
from floe_compute_databricks.connection import (
    STATEMENT_TIMEOUT_MARGIN_S,
    connect_error,
    connect_kwargs,
    query_error,
    require_token,
    statement_timeout_s,
    warehouse_health,
)
from floe_tui.compute import ComputeConfig, ConfigError, NotConnectedError, QueryError

Target = Callable[..., ComputeConfig]
CONNECTION = DatabricksConnection.model_validate(
    {
        "host": "adb-1.2.azuredatabricks.net",
        "http_path": "/sql/1.0/warehouses/ab12",
        "catalog": "main",
        "schema": "s",
    }
)


def test_the_connector_gets_no_telemetry_the_statement_timeout_and_one_attempt() -> None:
    kwargs = connect_kwargs(CONNECTION, "dapiTOKEN", connect_timeout_s=120, query_timeout_s=300)

    assert kwargs["enable_telemetry"] is False
    assert kwargs["session_configuration"] == {"STATEMENT_TIMEOUT": "310"}
    assert (kwargs["server_hostname"], kwargs["http_path"], kwargs["_port"]) == (
        "adb-1.2.azuredatabricks.net",
        "/sql/1.0/warehouses/ab12",
        443,
    )
    assert (kwargs["catalog"], kwargs["schema"]) == ("main", "s")
    assert kwargs["_retry_stop_after_attempts_count"] == 1
    assert [key for key, value in kwargs.items() if value == "dapiTOKEN"] == ["access_token"]


@pytest.mark.parametrize(("timeout", "expected"), [(0.5, 11), (3.0, 13), (3.2, 14), (300, 310)])
def test_statement_timeout_is_the_timeout_rounded_up_plus_ten_seconds(timeout: float, expected: int) -> None:
    assert STATEMENT_TIMEOUT_MARGIN_S == 10
    assert statement_timeout_s(timeout) == expected


def test_queries_need_a_connected_target(target: Target) -> None:
    with pytest.raises(NotConnectedError):
        DatabricksComputePlugin(target()).execute("SELECT 1")


def test_an_invalid_session_handle_retires_the_connection() -> None:
    from databricks.sql.exc import DatabaseError

    error = query_error(DatabaseError("Invalid SessionHandle: SessionHandle [1f2e3d4c-aaaa-bbbb]"))

    assert error.code == "FLOE-C300" and error.breaks_connection is True
    assert "no longer knows this session" in error.message and "again" in error.hint


def test_a_sql_error_keeps_the_connection_and_the_warehouses_message() -> None:
    from databricks.sql.exc import ServerOperationError

    raw = "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'. SQLSTATE: 42601"
    error = query_error(ServerOperationError(raw, {"diagnostic-info": "org.apache.spark... (a JVM stack)"}))

    assert isinstance(error, QueryError) and error.breaks_connection is False
    assert error.message == raw


def test_a_network_failure_during_a_query_retires_the_connection() -> None:
    from databricks.sql.exc import RequestError

    lost = RequestError(
        "Error during request to server", {"original-exception": ConnectionResetError(104, "reset")}
    )

    error = query_error(lost)

    assert error.code == "FLOE-C300" and error.breaks_connection and "reset" in error.message


def test_a_refused_token_says_so_without_the_token() -> None:
    from databricks.sdk.errors import Unauthenticated
    from databricks.sql.exc import RequestError

    sdk = connect_error(Unauthenticated("Invalid access token."), "dbx", token="dapiSECRET")
    connector = connect_error(
        RequestError("Error during request to server: dapiSECRET", {"http-code": 403}),
        "dbx",
        token="dapiSECRET",
    )

    for error in (sdk, connector):
        assert error.code == "FLOE-C300" and "refused the token" in error.message
        assert "credentials.token" in error.hint and "dapiSECRET" not in str(error)
    assert "HTTP 403" in connector.message


@pytest.mark.parametrize(
    ("state", "health"),
    [
        ("RUNNING", "healthy"),
        ("STARTING", "degraded"),
        ("STOPPING", "degraded"),
        ("STOPPED", "degraded"),
        ("DELETING", "unhealthy"),
        ("DELETED", "unhealthy"),
        ("SOMETHING_NEW", "degraded"),
        (None, "degraded"),
    ],
)
def test_warehouse_states_map_to_health(state: str | None, health: str) -> None:
    verdict, message = warehouse_health(state)

    assert verdict == health and message
    if state == "STOPPED":
        assert message == "stopped (starts on the next query)"


def test_every_state_of_the_sdk_has_a_mapping() -> None:
    from databricks.sdk.service.sql import State

    assert all(not warehouse_health(s.value)[1].startswith("warehouse state") for s in State)


def test_an_empty_or_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        require_token({}, "dbx")
    with pytest.raises(ConfigError):
        require_token({"token": SecretStr("  ")}, "dbx")
    assert require_token({"token": SecretStr("dapiX")}, "dbx") == "dapiX"


class _OfflineSessions(DatabricksComputePlugin):
    """The plugin with placeholder sessions, to watch the core's pool retire one on our error."""

    def open_engine(self, connection: DatabricksConnection, secrets: Mapping[str, SecretStr]) -> None:
        return None

    def open_connection(self) -> Any:
        return object()

    def close_connection(self, conn: Any) -> None:
        return None

    def check_connection(self, conn: Any) -> None:
        return None


def test_the_pool_replaces_a_session_reported_invalid_and_counts_a_reconnect(
    target: Target, token: str
) -> None:
    from databricks.sql.exc import DatabaseError

    plugin = _OfflineSessions(target(pool={"size": 1}))
    plugin.connect()
    pool = plugin.pool
    assert pool is not None
    with pytest.raises(Exception), pool.acquire(1) as first:  # noqa: B017
        raise query_error(DatabaseError("Invalid SessionHandle: SessionHandle [abc]"))
    with pool.acquire(1) as second:
        assert second is not first
    stats = plugin.pool_stats()
    plugin.disconnect()

    assert (stats.reconnects, stats.created, stats.closed) == (1, 2, 1)
