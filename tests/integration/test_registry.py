"""ComputeRegistry and entry-point discovery, with the real installed DuckDB plugin."""

from __future__ import annotations

from typing import ClassVar

import pytest

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import (
    ComputeConfig,
    PluginApiVersionError,
    PluginNotInstalledError,
    RegistryError,
    UnknownComputeError,
    discover_plugins,
)
from floe_tui.compute.discovery import check_api_version
from floe_tui.compute.registry import ComputeRegistry


def target(name: str, plugin: str = "duckdb") -> ComputeConfig:
    return ComputeConfig.from_mapping({"name": name, "plugin": plugin})


def test_duckdb_is_discovered_through_its_entry_point() -> None:
    assert discover_plugins().plugins["duckdb"] is DuckDBComputePlugin


def test_registry_hands_out_one_configured_instance_per_target() -> None:
    registry = ComputeRegistry([target("duckdb"), target("scratch")], default="duckdb")
    assert registry.names == ["duckdb", "scratch"]
    assert registry.get() is registry.get("duckdb")
    assert registry.get("scratch").config.name == "scratch"
    assert isinstance(registry.get("scratch"), DuckDBComputePlugin)


def test_selection_outside_the_approved_set_names_the_choices() -> None:
    registry = ComputeRegistry([target("duckdb")], default="duckdb")
    with pytest.raises(UnknownComputeError) as caught:
        registry.validate_selection("snowflake")
    assert "snowflake" in caught.value.message and "duckdb" in caught.value.hint


def test_restricted_registry_shares_instances_and_checks_its_subset() -> None:
    parent = ComputeRegistry([target("duckdb"), target("scratch")], default="duckdb")
    child = parent.restricted(["scratch"], default="scratch")
    assert child.names == ["scratch"] and child.get() is parent.get("scratch")
    with pytest.raises(UnknownComputeError):
        parent.restricted(["spark-prod"])
    with pytest.raises(RegistryError):
        parent.restricted(["scratch"])  # inherits default duckdb, which the subset dropped


@pytest.mark.parametrize(
    ("approved", "default", "error"),
    [
        ([], "duckdb", RegistryError),
        ([target("duckdb")], "spark", RegistryError),
        ([target("duckdb"), target("duckdb")], "duckdb", RegistryError),
        ([target("lake", plugin="nosuchengine")], "lake", PluginNotInstalledError),
    ],
)
def test_inconsistent_registries_are_refused(
    approved: list[ComputeConfig], default: str, error: type
) -> None:
    with pytest.raises(error) as caught:
        ComputeRegistry(approved, default=default)
    assert caught.value.hint


def test_missing_plugin_hint_is_the_pip_requirement() -> None:
    with pytest.raises(PluginNotInstalledError) as caught:
        ComputeRegistry([target("lake", plugin="teradata")], default="lake")
    assert caught.value.hint == "pip install floe-compute-teradata"


def test_plugins_built_for_another_api_major_are_refused() -> None:
    class FromTheFuture(DuckDBComputePlugin):
        api_version: ClassVar[str] = "3.0"

    with pytest.raises(PluginApiVersionError) as caught:
        check_api_version(FromTheFuture)
    assert "3.0" in caught.value.message and "2.x" in caught.value.hint


def test_a_plugin_written_for_api_1_gets_the_version_error_not_an_attribute_error() -> None:
    class WrittenFor1x(DuckDBComputePlugin):
        """Overrides the 1.x private hook names, which 2.0 no longer calls."""

        api_version: ClassVar[str] = "1.0"

        def _open_engine(self, connection: object, secrets: object) -> None:
            raise AssertionError("never called")

    with pytest.raises(PluginApiVersionError) as caught:
        check_api_version(WrittenFor1x)
    assert caught.value.code == "FLOE-C201"
    assert "API 1.0" in caught.value.message and "2.x" in caught.value.hint


def test_close_disconnects_every_instance() -> None:
    registry = ComputeRegistry([target("duckdb")], default="duckdb")
    plugin = registry.get()
    plugin.connect()
    registry.close()
    assert not plugin.is_connected  # type: ignore[attr-defined]
