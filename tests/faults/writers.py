"""Runs one of the console's file writers in a child process where writing fails (not a test module).

    python writers.py MODE DIRECTORY MANIFESTS

Every writer runs, each in its own folder DIRECTORY/WRITER: `history` (the query history),
`csv` (the query screen's CSV export), `profiles` (`floe-tui profiles`, which writes
profiles.yml) and `cache` (the first-paint snapshot cache).
MODE is `ok` (write normally: the "previous" file), `fsize:N` (``RLIMIT_FSIZE`` of N bytes, with
SIGXFSZ ignored, so a write past N bytes fails with EFBIG: a full disk) or `nobody` (run as uid
65534, which cannot create files in DIRECTORY: an unwritable directory, since CI runs as root).

Each writer runs once normally first, in a scratch directory, so that every module it imports
later is loaded before the limit or the user change (the interpreter's own files are under
/root, which `nobody` cannot read). One JSON line on stdout says what each writer reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

NOBODY = 65534


def big_sql(index: int) -> str:
    return f"SELECT {index} AS n, '{'x' * 400}' AS padding"


def history(directory: Path, manifests: Path, size: int) -> dict[str, Any]:
    from floe_tui.console.history import HistoryEntry, QueryHistory

    store = QueryHistory(directory)
    store.load()
    for index in range(size):
        store.add(
            HistoryEntry(sql=big_sql(index), target="duckdb", at="2026-01-01T00:00:00", outcome="completed")
        )
    try:
        store.save()
    except OSError as exc:  # the console logs: "cannot save the history: <strerror>"
        return {"error": f"cannot save the history: {exc.strerror}", "errno": exc.errno}
    return {"error": None}


def csv(directory: Path, manifests: Path, size: int) -> dict[str, Any]:
    import pyarrow as pa

    from floe_tui.tui.query_screen import QueryScreen

    posted: list[Any] = []

    class Screen:  # what `_write_csv` uses of its screen: the message it posts at the end
        def post_message(self, message: Any) -> None:
            posted.append(message)

    pages = [pa.table({"n": list(range(size)), "label": [f"row {i} " + "y" * 40 for i in range(size)]})]
    QueryScreen._write_csv(Screen(), pages, directory / "result.csv")  # type: ignore[arg-type]
    (finished,) = posted
    # The console shows "export failed: <error>" in a notification and the event log.
    return {"error": None if finished.error is None else f"export failed: {finished.error}"}


def profiles(directory: Path, manifests: Path, size: int) -> dict[str, Any]:
    from floe_tui import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["profiles", "-m", str(manifests), "--product", "orders", "-o", str(directory)])
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "error": err.getvalue() or None}


def cache(directory: Path, manifests: Path, size: int) -> dict[str, Any]:
    from floe_tui.console.prefetch import SnapshotCache
    from floe_tui.console.snapshot import dump, load

    document = dump(manifests)
    document["padding"] = "z" * size  # a larger snapshot than the previous one
    text = json.dumps(document)
    SnapshotCache(manifests, directory).write(text, load(document))  # best effort: never raises
    return {"error": None}


WRITERS = {"history": history, "csv": csv, "profiles": profiles, "cache": cache}


def main() -> int:
    mode, directory, manifests = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    # Warm up: everything the writers import is loaded before the limit or the new user.
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with tempfile.TemporaryDirectory() as scratch, quiet[0], quiet[1]:
        for name, run in WRITERS.items():
            (Path(scratch) / name).mkdir()
            run(Path(scratch) / name, manifests, 3)
    size = 2_000 if mode != "ok" else 3
    if mode.startswith("fsize:"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        limit = int(mode.split(":", 1)[1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    elif mode == "nobody":
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    elif mode != "ok":
        raise SystemExit(f"unknown mode {mode!r}")
    results = {name: run(directory / name, manifests, size) for name, run in WRITERS.items()}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
