"""The Textual console: the only package of floe-tui that imports Textual."""

from __future__ import annotations

from pathlib import Path


def run(manifests: Path, env: str | None = None, diff_base: Path | None = None) -> int:
    """Run the console until the user quits; returns the exit code.

    `diff_base`: the tree marks what differs from the manifests at that path (`--diff BASE`).
    """
    import gc
    import os

    # Start-up allocates some 55,000 objects that live as long as the console; the collector's
    # passes over them (a full one among them) were 25 ms before the first frame. It is back on
    # as soon as that frame is painted.
    gc.disable()
    # Textual waits ESCDELAY ms after a lone escape for the rest of a key sequence (default 100):
    # escape cancels queries here, so answer sooner; a user's own setting wins.
    os.environ.setdefault("ESCDELAY", "25")
    from floe_tui.console.prefetch import PlanPrefetch

    prefetch = PlanPrefetch(manifests)  # compiles while Textual loads
    from floe_tui.console.engines import join_query_threads
    from floe_tui.tui.app import FloeApp

    app = FloeApp(manifests, env, prefetch=prefetch, diff_base=diff_base, after_first_frame=gc.enable)
    try:
        code = app.run()
    finally:
        app.close_engines(timeout_s=2.0)
        join_query_threads(2.0)
    return int(code or 0)
