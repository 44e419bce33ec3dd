"""floe-tui: governed multi-engine compute, as a library and a terminal console."""

__version__ = "0.1.0"
