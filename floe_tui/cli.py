"""The `floe-tui` command and its headless sub-commands (DESIGN section 4).

Exit codes: 0 fine; 1 the manifests or the query have a problem; 2 the command could not run
(bad arguments, no manifests at the path); 3 query cancelled (ctrl+c); 4 query timed out.
Errors are one line on stderr, never a traceback. Nothing here imports Textual or an engine
driver until a command needs it.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from floe_tui import __version__
from floe_tui.exits import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, UsageError, exit_now
from floe_tui.telemetry_export import start_export

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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # `prog` is "floe-tui" for the command itself and "floe-tui validate" for a sub-command.
        self.exit(EXIT_USAGE, f"error: {message} (hint: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="floe-tui",
        description="Governed multi-engine compute: check, plan and query from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"floe-tui {__version__}")
    # `floe-tui -m PATH` (no sub-command) opens the console on PATH: the same options as `ui`.
    parser.add_argument("-m", "--manifests", dest="ui_manifests", type=Path, help="(console) as for `ui`")
    parser.add_argument("--env", dest="ui_env", help="(console) as for `ui`")
    parser.add_argument("--diff", dest="ui_diff", type=Path, metavar="BASE", help="(console) as for `ui`")
    common = _Parser(add_help=False)
    common.add_argument(
        "-m",
        "--manifests",
        type=Path,
        help="manifest directory or file (default: $FLOE_MANIFESTS, else the sample)",
    )
    common.add_argument("--env", help="environment (default: $FLOE_ENV, else dev)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ui = commands.add_parser("ui", parents=[common], help="the console (the default)")
    ui.add_argument(
        "--diff", type=Path, metavar="BASE", help="mark what differs from the manifests at BASE (as `diff`)"
    )
    validate = commands.add_parser("validate", parents=[common], help="check the manifests; exit 1 on errors")
    validate.add_argument("path", nargs="?", type=Path, help="manifest directory or file")
    validate.add_argument(
        "--format",
        choices=["text", "json", "github", "sarif", "junit"],
        default="text",
        help="text, json, or for CI: github (workflow commands), sarif (2.1.0), junit (XML)",
    )

    plan = commands.add_parser("plan", parents=[common], help="every transform's compute and dbt output")
    plan.add_argument("--product", help="only this product (name, or domain/name)")
    plan.add_argument("--format", choices=["text", "json"], default="text")

    diff = commands.add_parser("diff", help="what a change to the manifests does to the plan")
    diff.add_argument("base", type=Path, help="manifests before the change (directory or file, as -m)")
    diff.add_argument("head", type=Path, help="manifests after the change")
    envs = diff.add_mutually_exclusive_group()
    envs.add_argument("--env", help="environment (default: $FLOE_ENV, else dev)")
    envs.add_argument("--all-envs", action="store_true", help="every environment of either tree")
    diff.add_argument("--format", choices=["text", "json"], default="text")

    profiles = commands.add_parser("profiles", parents=[common], help="write a product's dbt profiles.yml")
    profiles.add_argument("--product", required=True, help="product name, or domain/name")
    profiles.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where profiles.yml goes")

    health = commands.add_parser("health", parents=[common], help="one health round of the approved targets")
    health.add_argument("--compute", help="only this target")
    health.add_argument("--format", choices=["text", "json"], default="text")

    query = commands.add_parser("query", parents=[common], help="run one query on an approved target")
    query.add_argument("--compute", help="target name (default: the default compute)")
    query.add_argument("--product", help="restrict the choice to this product's approved set")
    query.add_argument(
        "--timeout", type=_positive_float, help="seconds (default: the manifest's query_timeout_s)"
    )
    query.add_argument("--limit", type=_non_negative_int, help="at most this many rows")
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("sql", help="the SQL, or - to read it from stdin")

    monitor = commands.add_parser(
        "monitor", parents=[common], help="poll the approved targets; JSON lines until SIGTERM/SIGINT"
    )
    monitor.add_argument("--compute", help="only this target")
    monitor.add_argument(
        "--interval", type=_interval, default=1.0, help="seconds between polls, 0.2 to 60 (default 1)"
    )
    return parser


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


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    _tolerant_output()
    if not (sys.argv[1:] if argv is None else argv):
        # `floe-tui` alone (`make run`, most launches): the console on the defaults. Building the
        # parser of every sub-command would be 3 ms of the console's start before its first paint.
        return argparse.Namespace(**CONSOLE_DEFAULTS, kept=[])
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the sub-command's parser, so the hint names its --help
        sub_parsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        owner = sub_parsers.choices.get(args.command, parser) if args.command else parser
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    # `floe-tui -m PATH validate` means what `floe-tui validate -m PATH` means.
    if getattr(args, "manifests", None) is None:
        args.manifests = args.ui_manifests
    if getattr(args, "env", None) is None:
        args.env = args.ui_env
    args.kept = []  # what the command compiled, freed with `args` (see `run`)
    return args


def _dispatch(args: argparse.Namespace) -> int:
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


def _run_console(args: argparse.Namespace) -> int:
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


def _interval(text: str) -> float:
    seconds = _positive_float(text)
    if not 0.2 <= seconds <= 60:
        raise argparse.ArgumentTypeError("must be between 0.2 and 60 seconds")
    return seconds


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


if __name__ == "__main__":
    run()
