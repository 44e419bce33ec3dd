"""The console's terminal driver: frames reach the terminal before the UI thread goes on."""

from __future__ import annotations

import os
import threading

from textual.drivers._writer_thread import WriterThread

from floe_tui.tui.driver import _ReportingOutput


def test_flush_returns_once_the_writer_thread_has_written_the_frame() -> None:
    """Textual's own writer thread, fed while another thread keeps the interpreter busy (as the
    console's start-up work did): waiting for the flush gives the writer its turn."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    output = _ReportingOutput(os.fdopen(write_end, "w", encoding="utf-8"))
    writer = WriterThread(output)  # type: ignore[arg-type]  # write, flush and fileno are all it uses
    writer.start()
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    try:
        for count, frame in enumerate(("first frame", "second frame"), start=1):
            writer.write(frame)
            output.wait_flushed(count, timeout_s=5.0)
            assert os.read(read_end, 100) == frame.encode()  # already there: no wait, no retry
    finally:
        stop.set()
        spinner.join()
        writer.stop()
        os.close(read_end)


def test_waiting_for_a_stalled_terminal_ends_at_its_bound() -> None:
    """Nothing was written: the wait gives up after its timeout instead of hanging the UI."""
    read_end, write_end = os.pipe()
    output = _ReportingOutput(os.fdopen(write_end, "w", encoding="utf-8"))
    try:
        started = threading.Event()
        done = threading.Thread(target=lambda: (started.set(), output.wait_flushed(1, timeout_s=0.05)))
        done.start()
        done.join(timeout=5)
        assert started.is_set() and not done.is_alive()
    finally:
        os.close(read_end)
