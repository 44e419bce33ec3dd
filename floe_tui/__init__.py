"""floe-tui: governed multi-engine compute, as a library and a terminal console."""

import logging

__version__ = "0.1.0"

# A library logs; the application decides where that goes (no "last resort" stderr lines).
logging.getLogger("floe_tui").addHandler(logging.NullHandler())
