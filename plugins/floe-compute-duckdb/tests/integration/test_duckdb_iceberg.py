"""Iceberg: tables written by pyiceberg read through the plugin; REST catalogs attached for real."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import CatalogConfig, ConfigError, SecretRef

Open = Callable[..., DuckDBComputePlugin]
Query = Callable[[DuckDBComputePlugin, str], list[dict[str, Any]]]

ORDERS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "customer": pa.array(["ada", "grace", "edsger"]),
        "amount": pa.array([12.5, 7.0, 30.25]),
    }
)


@pytest.fixture(scope="module")
def orders_metadata(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real Iceberg table, written by pyiceberg's SQL catalog (SQLite) to a local warehouse."""
    root = tmp_path_factory.mktemp("iceberg")
    catalog = SqlCatalog("floe", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "wh").as_uri())
    catalog.create_namespace("sales")
    table = catalog.create_table("sales.orders", schema=ORDERS.schema)
    table.append(ORDERS)
    return str(table.metadata_location)


def test_iceberg_table_written_by_pyiceberg_reads_through_the_plugin(
    open_plugin: Open, query: Query, orders_metadata: str
) -> None:
    plugin = open_plugin({"extensions": ["iceberg"]})

    result = query(plugin, f"SELECT * FROM iceberg_scan('{orders_metadata}') ORDER BY id")

    assert result == ORDERS.to_pylist()


def test_iceberg_table_aggregates_in_duckdb(open_plugin: Open, query: Query, orders_metadata: str) -> None:
    plugin = open_plugin({"extensions": ["iceberg"]})

    result = query(
        plugin, f"SELECT count(*) AS n, sum(amount) AS total FROM iceberg_scan('{orders_metadata}')"
    )

    assert result == [{"n": 3, "total": 49.75}]


# -- REST catalogs -------------------------------------------------------------------------


class RestStub:
    """A loopback Iceberg REST endpoint that records what it is asked and knows no namespaces."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, self.headers.get("Authorization")))
                route = self.path.split("?")[0]
                if route == "/v1/config":
                    self._json({"defaults": {}, "overrides": {}})
                elif route.endswith("/namespaces"):
                    self._json({"namespaces": []})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                stub.requests.append(("POST", self.path, self.headers.get("Authorization")))
                self.send_error(404)

            def _json(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


@pytest.fixture
def rest_stub() -> Iterator[RestStub]:
    stub = RestStub()
    yield stub
    stub.close()


def test_attach_calls_the_rest_endpoint_with_the_warehouse(
    open_plugin: Open, query: Query, rest_stub: RestStub
) -> None:
    plugin = open_plugin({"extensions": ["iceberg"]})

    plugin.attach_catalog(CatalogConfig(name="lake", uri=rest_stub.uri, warehouse="wh"), timeout=30)

    assert rest_stub.paths()[0] == "/v1/config?warehouse=wh"
    assert query(plugin, "SELECT type FROM duckdb_databases() WHERE database_name = 'lake'") == [
        {"type": "iceberg"}
    ]


def test_attached_catalog_lists_its_namespaces_on_the_endpoint(
    open_plugin: Open, query: Query, rest_stub: RestStub
) -> None:
    plugin = open_plugin({"extensions": ["iceberg"]})
    plugin.attach_catalog(CatalogConfig(name="lake", uri=rest_stub.uri, warehouse="wh"), timeout=30)

    tables = query(plugin, "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'")

    assert tables == []
    assert ("GET", "/v1/namespaces", None) in rest_stub.requests


def test_attach_with_a_token_sends_it_as_a_bearer(
    open_plugin: Open, rest_stub: RestStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_TEST_LAKE_TOKEN", "tok-'quoted'-value")
    plugin = open_plugin({"extensions": ["iceberg"]})
    catalog = CatalogConfig(
        name="lake", uri=rest_stub.uri, warehouse="wh", token=SecretRef(env="FLOE_TEST_LAKE_TOKEN")
    )

    plugin.attach_catalog(catalog, timeout=30)

    assert rest_stub.requests[0] == ("GET", "/v1/config?warehouse=wh", "Bearer tok-'quoted'-value")
    assert os.environ["FLOE_TEST_LAKE_TOKEN"] not in (plugin.get_catalog_attachment_sql(catalog) or "")


def test_attach_without_the_iceberg_extension_is_a_config_error(
    open_plugin: Open, rest_stub: RestStub
) -> None:
    plugin = open_plugin()

    with pytest.raises(ConfigError) as caught:
        plugin.attach_catalog(CatalogConfig(name="lake", uri=rest_stub.uri, warehouse="wh"), timeout=30)

    assert "iceberg" in caught.value.hint
    assert rest_stub.requests == []
    assert plugin.pool_stats().in_use == 0


def test_attach_sql_binds_in_duckdb_when_run_as_generated(
    open_plugin: Open, query: Query, rest_stub: RestStub
) -> None:
    plugin = open_plugin({"extensions": ["iceberg"]})
    sql = plugin.get_catalog_attachment_sql(CatalogConfig(name="select", uri=rest_stub.uri, warehouse="it's"))
    assert sql is not None

    query(plugin, sql)

    assert rest_stub.paths()[0] == "/v1/config?warehouse=it%27s"
