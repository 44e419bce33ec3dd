"""floe-tui compute plugin for Apache Spark (entry point ``spark`` in ``floe.computes``).

Importing it imports no pyspark and starts no JVM: that happens on the first ``connect()``.
"""

__version__ = "0.1.0"

from floe_compute_spark.plugin import SparkComputePlugin

__all__ = ["SparkComputePlugin"]
