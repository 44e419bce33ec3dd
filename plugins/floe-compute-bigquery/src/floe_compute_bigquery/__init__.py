"""floe-tui compute plugin for BigQuery (entry point ``bigquery`` in ``floe.computes``).

Google's auth library looks for a metadata server (an HTTP probe of a link-local address) unless
``NO_GCE_CHECK`` is ``true``, and reads that variable once, when it is first imported. It is set
here, before any Google module can be imported through this plugin, unless the user set it.
Google's loggers get a NullHandler: their records go wherever the application sends logs, and
never to stderr through Python's last-resort handler when it configured none.
"""

import logging
import os

os.environ.setdefault("NO_GCE_CHECK", "true")
logging.getLogger("google").addHandler(logging.NullHandler())

__version__ = "0.1.0"

from floe_compute_bigquery.plugin import BigQueryComputePlugin  # noqa: E402  (after NO_GCE_CHECK)

__all__ = ["BigQueryComputePlugin"]
