"""Run in a fresh interpreter: everything short of connect() loads no pyspark and starts no JVM."""

import json
import sys

import floe_compute_duckdb  # type: ignore[import-untyped]  # noqa: F401
import floe_tui
import floe_tui.cli
import floe_tui.compute
from floe_compute_spark import SparkComputePlugin
from floe_compute_spark.testing import java_processes
from floe_tui.compute import ComputeConfig, discover_plugins

found = discover_plugins()
config = ComputeConfig.from_mapping({"name": "spark", "connection": {"master": "local[2]"}})
plugin = found.get("spark")(config)
facts = {
    "spark_discovered": found.get("spark") is SparkComputePlugin,
    "validated": plugin.validate_connection(config).success,
    "profile": plugin.generate_dbt_profile(config, "dev")["method"],
    "packages": bool(plugin.get_required_packages()),
    "health_before_connect": plugin.health_check(timeout=1).status.value,
    "engine_modules": sorted(m for m in sys.modules if m.split(".")[0] in {"pyspark", "py4j", "grpc"}),
    "java_processes": len(java_processes()),
    "floe_version": floe_tui.__version__,
}
print(json.dumps(facts))
