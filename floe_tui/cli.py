"""The `floe-tui` command and its headless sub-commands (DESIGN section 4).

Exit codes: 0 fine; 1 the manifests or the query have a problem; 2 the command could not run
(bad arguments, no manifests at the path); 3 query cancelled (ctrl+c); 4 query timed out.
Errors are one line on stderr, never a traceback. Nothing here imports Textual or an engine
driver until a command needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from floe_tui import __version__
from floe_tui.exits import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (hint: floe-tui {self.prog.split()[-1]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="floe-tui",
        description="Governed multi-engine compute: check, plan and query from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"floe-tui {__version__}")
    # `floe-tui -m PATH` (no sub-command) opens the console on PATH: the same options as `ui`.
    parser.add_argument("-m", "--manifests", dest="ui_manifests", type=Path, help="(console) as for `ui`")
    parser.add_argument("--env", dest="ui_env", help="(console) as for `ui`")
    common = _Parser(add_help=False)
    common.add_argument(
        "-m",
        "--manifests",
        type=Path,
        help="manifest directory or file (default: $FLOE_MANIFESTS, else the sample)",
    )
    common.add_argument("--env", help="environment (default: $FLOE_ENV, else dev)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("ui", parents=[common], help="the console (the default)")
    validate = commands.add_parser("validate", parents=[common], help="check the manifests; exit 1 on errors")
    validate.add_argument("path", nargs="?", type=Path, help="manifest directory or file")
    validate.add_argument("--format", choices=["text", "json"], default="text")

    plan = commands.add_parser("plan", parents=[common], help="every transform's compute and dbt output")
    plan.add_argument("--product", help="only this product (name, or domain/name)")
    plan.add_argument("--format", choices=["text", "json"], default="text")

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "ui"
    # `floe-tui -m PATH validate` means what `floe-tui validate -m PATH` means.
    if getattr(args, "manifests", None) is None:
        args.manifests = args.ui_manifests
    if getattr(args, "env", None) is None:
        args.env = args.ui_env
    try:
        if command == "ui":
            return _run_console(args)
        from floe_tui import commands

        handler = getattr(commands, f"run_{command}")
        return int(handler(args))
    except UsageError as exc:
        print(f"error: {exc} (hint: {exc.hint})", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # `| head` closed the pipe
        return EXIT_OK


def _run_console(args: argparse.Namespace) -> int:
    """The console (Textual is imported here, never at module scope: headless commands stay fast)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the console needs a terminal", "run it in a terminal, or use a sub-command")
    from floe_tui.paths import default_manifests
    from floe_tui.tui import run

    return run(args.manifests or default_manifests(), args.env)


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
    sys.exit(main())
