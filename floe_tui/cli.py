"""The `floe-tui` command and its headless sub-commands (DESIGN section 4).

Exit codes: 0 fine; 1 the manifests or the query have a problem; 2 the command could not run
(bad arguments, no manifests at the path); 3 query cancelled (ctrl+c); 4 query timed out.
Errors are one line on stderr, never a traceback. Nothing here imports Textual or an engine
driver until a command needs it.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from floe_tui.exits import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, UsageError, exit_now
from floe_tui.telemetry_export import start_export

if TYPE_CHECKING:
    from argparse import Namespace

#: Sub-commands that only read manifests and write files or text: they start no engine and no
#: thread, so nothing is left for the interpreter's teardown to do but free the compiled tree.
ENDS_AT_ONCE = frozenset({"validate", "plan", "diff", "profiles"})


#: What the parser makes of no arguments at all (a test keeps the two the same).
CONSOLE_DEFAULTS = {
    "command": None,
    "ui_manifests": None,
    "ui_env": None,
    "ui_diff": None,
    "manifests": None,
    "env": None,
}


def main(argv: Sequence[str] | None = None) -> int:
    return _dispatch(_arguments(argv))


def run() -> NoReturn:
    """The `floe-tui` script: `main`, then, after a sub-command of `ENDS_AT_ONCE`, the process
    ends without the interpreter's teardown (`exit_now`)."""
    args = _arguments(None)
    code = _dispatch(args)  # `args.kept` holds the compiled trees to the exit: not freed either
    if args.command not in ENDS_AT_ONCE:
        sys.exit(code)
    exit_now(code)


def _arguments(argv: Sequence[str] | None) -> Namespace:
    _tolerant_output()
    if not (sys.argv[1:] if argv is None else argv):
        # `floe-tui` alone (`make run`, most launches): the console on the defaults, in a plain
        # namespace. Importing argparse and building the parser of every sub-command would be
        # 5 ms of the console's start before its first paint.
        return cast("Namespace", SimpleNamespace(**CONSOLE_DEFAULTS, kept=[]))
    from floe_tui.arguments import parse

    args = parse(argv)
    args.kept = []  # what the command compiled, freed with `args` (see `run`)
    return args


def _dispatch(args: Namespace) -> int:
    command = args.command or "ui"
    try:
        if command == "ui":
            return _run_console(args)
        from floe_tui import commands

        handler = getattr(commands, f"run_{command}")
        export = start_export(console=sys.stderr)  # metrics leave the process (DESIGN section 9)
        try:
            return int(handler(args))
        finally:
            export.shutdown()
    except UsageError as exc:
        print(f"error: {exc} (hint: {exc.hint})", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # `| head` closed the pipe
        return EXIT_OK


def _tolerant_output() -> None:
    """A file name that is not UTF-8 (held as surrogate escapes) prints escaped, not as a traceback."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _run_console(args: Namespace) -> int:
    """The console (Textual is imported here, never at module scope: headless commands stay fast)."""
    diff_base: Path | None = getattr(args, "diff", None) or args.ui_diff
    if diff_base is not None and not diff_base.exists():
        raise UsageError(
            f"{diff_base}: no such file or directory", "pass --diff the manifests to compare with"
        )
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the console needs a terminal", "run it in a terminal, or use a sub-command")
    from floe_tui.console.files import data_dir
    from floe_tui.paths import default_manifests
    from floe_tui.tui import run

    log = _metrics_log(data_dir())
    export = start_export(console=log)  # the console exporter writes to a file, never the screen
    try:
        return run(args.manifests or default_manifests(), args.env, diff_base)
    finally:
        export.shutdown()
        log.close()


def _metrics_log(directory: Path) -> TextIO:
    """`metrics.log` in the data directory, or nowhere when that cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return (directory / "metrics.log").open("a", encoding="utf-8")
    except OSError:
        return open(os.devnull, "w", encoding="utf-8")


if __name__ == "__main__":
    run()
