"""Where the console keeps its own files, and how it writes them (no Textual here).

Data (the query history) lives under ``$FLOE_DATA_DIR``, else ``$XDG_DATA_HOME/floe-tui``, else
``~/.local/share/floe-tui``; caches (first-paint snapshots) under ``$XDG_CACHE_HOME/floe-tui``,
else ``~/.cache/floe-tui``. Every write goes through a temporary file in the same directory that
then replaces the old one, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _xdg(variable: str, fallback: Path) -> Path:
    value = os.path.expanduser(os.environ.get(variable, ""))
    return (Path(value) if value and os.path.isabs(value) else fallback) / "floe-tui"


def data_dir() -> Path:
    """The console's data (created on first write, not here)."""
    configured = os.environ.get("FLOE_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    return _xdg("XDG_DATA_HOME", Path.home() / ".local" / "share")


def cache_dir() -> Path:
    """Files the console can always rebuild (created on first write, not here)."""
    return _xdg("XDG_CACHE_HOME", Path.home() / ".cache")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file (mode 0600) in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
