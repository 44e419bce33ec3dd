"""A terminal driver that hands a lone escape over as soon as ESCDELAY has passed, and whose
input thread sleeps until input comes.

Textual's Linux driver waits for terminal input in slices of 100 ms and only then decides that
an escape byte was a key of its own rather than the start of a sequence: escape could take up to
a tenth of a second before the console saw it. Escape cancels running queries here, so this
driver waits in shorter slices while an escape byte is pending.

The slices also woke the input thread ten times a second with nothing to do: two thirds of an
idle console's CPU. When the key parser awaits no timeout (nothing half-read), this driver
waits for input with no time limit; stopping the driver wakes it through a pipe of its own.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from codecs import getincrementaldecoder
from typing import Any

from textual import constants
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

IDLE_SLICE_S = 0.1


class PromptEscapeDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Written once when input stops and never read, so the input thread cannot miss it;
        #: emptied before the next input thread starts (after a suspend).
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)

    def start_application_mode(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 64):
                pass
        super().start_application_mode()  # type: ignore[no-untyped-call]  # untyped in Textual

    def disable_input(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        super().disable_input()

    def close(self) -> None:
        super().close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def run_input_thread(self) -> None:
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        escape_pending = False
        try:
            while not self.exit_event.is_set():
                ready = selector.select(_wait_s(parser, escape_pending))
                for key, mask in ready:
                    if key.fd != self.fileno or not mask & selectors.EVENT_READ:
                        continue
                    text = decode(os.read(self.fileno, 4096))
                    if not text:
                        break  # stdin is a pipe that closed
                    escape_pending = text.endswith("\x1b")
                    for event in parser.feed(text):
                        self.process_message(event)
                for event in parser.tick():
                    escape_pending = False
                    self.process_message(event)
        finally:
            selector.close()


def _wait_s(parser: XTermParser, escape_pending: bool) -> float | None:
    """How long the input thread may wait for input: without limit while the parser awaits no
    timeout (Textual's `Parser._timeout_time`, pinned with Textual; slices if it is gone)."""
    if escape_pending:
        return min(IDLE_SLICE_S, constants.ESCAPE_DELAY)
    if getattr(parser, "_timeout_time", IDLE_SLICE_S) is None:
        return None
    return IDLE_SLICE_S
