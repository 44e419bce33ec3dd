"""A terminal driver that hands a lone escape over as soon as ESCDELAY has passed, and whose
input thread sleeps until input comes.

Textual's Linux driver waits for terminal input in slices of 100 ms and only then decides that
an escape byte was a key of its own rather than the start of a sequence: escape could take up to
a tenth of a second before the console saw it. Escape cancels running queries here, so this
driver waits in shorter slices while an escape byte is pending.

The slices also woke the input thread ten times a second with nothing to do: two thirds of an
idle console's CPU. When the key parser awaits no timeout (nothing half-read), this driver
waits for input with no time limit; stopping the driver wakes it through a pipe of its own.

Textual hands each frame to a writer thread and goes on. That thread then waited for the GIL
while the UI thread kept it busy with the next work: the first frame reached the terminal 35 ms
after it was rendered. Here `flush` (called by Textual after each frame) waits until the writer
has written what was queued, for at most `FRAME_WAIT_S`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import IO, Any

from textual import constants
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

IDLE_SLICE_S = 0.1
#: The longest the UI thread waits for a frame to reach the terminal (a stalled terminal costs
#: this much a frame, not a hang).
FRAME_WAIT_S = 0.05


class _ReportingOutput:
    """The terminal as the driver's writer thread sees it: it also tells who waits how many of
    the writes queued so far have been written and flushed."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._written = 0  # only the writer thread counts
        self._flushed = 0
        self._changed = threading.Condition()

    def write(self, text: str) -> None:
        self._file.write(text)
        self._written += 1

    def flush(self) -> None:
        self._file.flush()
        with self._changed:
            self._flushed = self._written
            self._changed.notify_all()

    def fileno(self) -> int:
        return self._file.fileno()

    def wait_flushed(self, count: int, timeout_s: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._flushed >= count, timeout_s)


class PromptEscapeDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Written once when input stops and never read, so the input thread cannot miss it;
        #: emptied before the next input thread starts (after a suspend).
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        terminal = self._file
        assert terminal is not None  # sys.__stderr__, which Textual's driver writes to
        self._output = _ReportingOutput(terminal)
        # What Textual's writer thread writes to; it uses write, flush and fileno only.
        self._file = self._output  # type: ignore[assignment]
        self._queued = 0

    def start_application_mode(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 64):
                pass
        super().start_application_mode()  # type: ignore[no-untyped-call]  # untyped in Textual

    def write(self, data: str) -> None:
        self._queued += 1
        super().write(data)

    def flush(self) -> None:
        """Let the writer thread have the GIL until the frame is in the terminal."""
        self._output.wait_flushed(self._queued, FRAME_WAIT_S)

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
