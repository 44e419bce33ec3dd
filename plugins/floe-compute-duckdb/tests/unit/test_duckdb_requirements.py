"""get_resource_requirements and get_required_packages."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

import pytest
from packaging.requirements import Requirement

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig, ConfigError
from floe_tui.compute.models import parse_byte_size
from floe_tui.compute.plugin import ResourceSize

Target = Callable[..., ComputeConfig]


def _cpu(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.mark.parametrize(
    ("size", "cpu_request", "memory_limit"),
    [("small", "500m", "2Gi"), ("medium", "2", "8Gi"), ("large", "4", "32Gi")],
)
def test_resource_sizes(size: str, cpu_request: str, memory_limit: str) -> None:
    spec = DuckDBComputePlugin().get_resource_requirements(size)  # type: ignore[arg-type]

    assert (spec.size, spec.cpu_request, spec.memory_limit) == (size, cpu_request, memory_limit)
    assert _cpu(spec.cpu_request) <= _cpu(spec.cpu_limit)
    assert parse_byte_size(spec.memory_request + "B") <= parse_byte_size(spec.memory_limit + "B")


def test_resource_sizes_grow() -> None:
    plugin = DuckDBComputePlugin()
    sizes: tuple[ResourceSize, ...] = ("small", "medium", "large")
    limits = [parse_byte_size(plugin.get_resource_requirements(s).memory_limit + "B") for s in sizes]

    assert limits == sorted(limits) and len(set(limits)) == 3


def test_unknown_resource_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        DuckDBComputePlugin().get_resource_requirements("huge")  # type: ignore[arg-type]


def test_required_packages_pin_duckdb_and_name_the_dbt_adapter() -> None:
    packages = DuckDBComputePlugin().get_required_packages()

    assert "duckdb==1.5.5" in packages
    assert any(Requirement(p).name == "dbt-duckdb" for p in packages)


def test_required_packages_are_satisfied_by_this_environment(target: Target) -> None:
    plugin = DuckDBComputePlugin(target({"extensions": ["iceberg", "tpch"]}))

    for requirement in map(Requirement, plugin.get_required_packages()):
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed), (requirement, installed)


def test_required_packages_include_the_configured_extensions(target: Target) -> None:
    packages = DuckDBComputePlugin(target({"extensions": ["iceberg", "spatial"]})).get_required_packages()

    assert packages[2:] == [
        "duckdb-extension-avro==1.5.5",
        "duckdb-extension-httpfs==1.5.5",
        "duckdb-extension-iceberg==1.5.5",
        "duckdb-extension-spatial==1.5.5",
    ]


def test_required_packages_include_httpfs_for_s3_credentials(target: Target) -> None:
    config = target(credentials={"s3_key_id": {"env": "K"}, "s3_secret": {"env": "S"}})

    assert "duckdb-extension-httpfs==1.5.5" in DuckDBComputePlugin(config).get_required_packages()
