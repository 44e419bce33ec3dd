"""A terminal driver that hands a lone escape over as soon as ESCDELAY has passed.

Textual's Linux driver waits for terminal input in slices of 100 ms and only then decides that
an escape byte was a key of its own rather than the start of a sequence: escape could take up to
a tenth of a second before the console saw it. Escape cancels running queries here, so this
driver waits in shorter slices while an escape byte is pending (and in the usual 100 ms ones
otherwise, so an idle console does not wake more often).
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual import constants
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

IDLE_SLICE_S = 0.1


class PromptEscapeDriver(LinuxDriver):
    def run_input_thread(self) -> None:
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        escape_pending = False
        try:
            while not self.exit_event.is_set():
                slice_s = min(IDLE_SLICE_S, constants.ESCAPE_DELAY) if escape_pending else IDLE_SLICE_S
                ready = selector.select(slice_s)
                for _key, mask in ready:
                    if not mask & selectors.EVENT_READ:
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
