"""floe-tui compute plugin for Databricks SQL warehouses (entry point ``databricks`` in ``floe.computes``)."""

__version__ = "0.1.0"

from floe_compute_databricks.plugin import DatabricksComputePlugin

__all__ = ["DatabricksComputePlugin"]
