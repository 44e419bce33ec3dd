"""floe-tui compute plugin for Snowflake (entry point ``snowflake`` in ``floe.computes``).

Importing this package imports no Snowflake driver: the connector loads when a session opens.
"""

__version__ = "0.1.0"

from floe_compute_snowflake.plugin import SnowflakeComputePlugin

__all__ = ["SnowflakeComputePlugin"]
