"""Catalog settings, resource presets and packages: everything that needs no engine."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.plugin import ICEBERG_EXTENSIONS
from floe_tui.compute import CatalogConfig, ComputeConfig, ConfigError, SecretRef


def test_catalogs_attach_through_conf_not_sql() -> None:
    catalog = CatalogConfig(name="lake", uri="http://127.0.0.1:8181/catalog")
    assert SparkComputePlugin().get_catalog_attachment_sql(catalog) is None


def test_iceberg_rest_catalog_conf_names_the_catalog_and_its_endpoint() -> None:
    catalog = CatalogConfig(name="lake", uri="http://127.0.0.1:8181/catalog", warehouse="wh")
    conf = SparkComputePlugin().iceberg_catalog_conf(catalog)
    assert conf == {
        "spark.sql.catalog.lake": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.lake.type": "rest",
        "spark.sql.catalog.lake.uri": "http://127.0.0.1:8181/catalog",
        "spark.sql.catalog.lake.warehouse": "wh",
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
    }


def test_iceberg_catalog_token_stays_out_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_TOKEN", "s3cr3t")
    catalog = CatalogConfig(name="lake", uri="http://127.0.0.1:8181", token=SecretRef(env="LAKE_TOKEN"))
    plugin = SparkComputePlugin()
    assert "s3cr3t" not in str(plugin.iceberg_catalog_conf(catalog))
    assert (
        plugin.iceberg_catalog_conf(catalog, include_token=True)["spark.sql.catalog.lake.token"] == "s3cr3t"
    )


def test_iceberg_catalog_conf_is_a_valid_target_conf() -> None:
    conf = SparkComputePlugin().iceberg_catalog_conf(CatalogConfig(name="lake", uri="http://127.0.0.1:1"))
    config = ComputeConfig.from_mapping({"name": "spark", "connection": {"conf": conf}})
    SparkComputePlugin(config).parse_connection(config)


def test_resource_presets_grow_with_size() -> None:
    plugin = SparkComputePlugin()
    small, large = plugin.get_resource_requirements("small"), plugin.get_resource_requirements("large")
    assert (small.memory_request, large.memory_request) == ("2Gi", "12Gi")


def test_unknown_resource_size_is_refused() -> None:
    with pytest.raises(ConfigError):
        SparkComputePlugin().get_resource_requirements("huge")  # type: ignore[arg-type]


def test_required_packages_never_ask_for_the_session_extra() -> None:
    packages = [Requirement(p) for p in SparkComputePlugin().get_required_packages()]
    names = {p.name: p for p in packages}
    assert "pyspark" in names and "dbt-spark" in names and "session" not in names["dbt-spark"].extras


def test_thrift_targets_need_pyhive() -> None:
    config = ComputeConfig.from_mapping(
        {"name": "spark", "connection": {"dbt": {"method": "thrift", "host": "sts.example"}}}
    )
    packages = [Requirement(p) for p in SparkComputePlugin(config).get_required_packages()]
    names = {p.name: p for p in packages}
    assert {"dbt-spark", "pyhive", "pure-sasl", "thrift_sasl"} <= set(names)
    assert not names["dbt-spark"].extras  # [PyHive] would pin thrift<0.17 (see the plugin)


def test_validation_warns_about_a_token_a_classic_target_does_not_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T", "x")
    config = ComputeConfig.from_mapping(
        {"name": "spark", "connection": {"master": "local[2]"}, "credentials": {"token": {"env": "T"}}}
    )
    result = SparkComputePlugin().validate_connection(config)
    assert result.success and any("token" in warning for warning in result.warnings)


def test_validation_of_yarn_needs_the_hadoop_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.delenv("YARN_CONF_DIR", raising=False)
    config = ComputeConfig.from_mapping({"name": "spark", "connection": {"master": "yarn"}})
    result = SparkComputePlugin().validate_connection(config)
    assert not result.success and "HADOOP_CONF_DIR" in result.message
