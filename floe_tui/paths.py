"""Where floe-tui finds things by default. Light on purpose: the console imports it before its
first paint, so it must not pull in the compiler or pydantic."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def default_manifests() -> Path:
    """`$FLOE_MANIFESTS`, else the bundled sample hierarchy (from a checkout or an install)."""
    configured = os.environ.get("FLOE_MANIFESTS")
    if configured:
        return Path(configured).expanduser()
    return Path(str(resources.files("floe_tui_samples") / "acme"))
