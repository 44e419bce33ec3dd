"""How a screen reaches the console that hosts it (one typed accessor), and what every console
screen does on its first frame that Textual's `Screen` does not.

Screens read the core (`ConsoleCore`: attributes down) and ask the app by messages or by the
core's methods; none imports `app.py` at run time (the first paint imports only the governance
screen) and none assigns an attribute of the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.geometry import Size
from textual.screen import Screen

if TYPE_CHECKING:
    from floe_tui.console.core import ConsoleCore
    from floe_tui.tui.app import FloeApp


class ConsoleScreen(Screen[None]):
    """A screen of the console: `floe` is the app, typed; `core` the console's core."""

    _resumed = False
    _painted = False

    @on(events.ScreenResume)
    def _keep_fresh_styles(self, event: events.ScreenResume) -> None:
        """The first resume comes right after the screen mounted, its nodes freshly styled:
        Textual would restyle all of them again (5 ms of the first paint). Runs before Textual's
        own handler: a subclass's handlers come first."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _compositor_refresh(self) -> None:
        """Render nothing while the app holds a batch of updates: Textual 8 renders the frame,
        then drops it in `App._display` with the regions it painted marked clean. The first
        frame, rendered inside the start-up batch, was lost so (20 ms of rendering); the tree
        reached the terminal two frames later. Kept dirty, all of it is painted by the first
        refresh after the batch."""
        if self.app._batch_count:
            self._repaint_required = True
            return
        super()._compositor_refresh()
        self._painted = True
        self.floe.frame_painted()

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        """Until its first frame, a screen is laid out only once the app's start-up batch is over:
        Textual laid it out inside the batch too (as it resumed and on the first Resize), only to
        lay it out again when the content that mounted meanwhile asked for it (7 ms of the first
        paint). The layout still pending runs on the first refresh after the batch; a screen not
        laid out yet has no size of its own, so it takes the app's."""
        if not self._painted:
            if self.app._batch_count:
                self._layout_required = True
                return
            if size is None and not self.outer_size:
                size = self.app.size
        super()._refresh_layout(size, scroll)

    @property
    def floe(self) -> FloeApp:
        return cast("FloeApp", self.app)

    @property
    def core(self) -> ConsoleCore:
        return self.floe.core
