"""The parser of `floe-tui`'s command line: imported only when there are arguments to read (the
console with none starts without argparse)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from floe_tui import __version__
from floe_tui.exits import EXIT_USAGE


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


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line as the sub-commands read it (`floe-tui -m PATH validate` means what
    `floe-tui validate -m PATH` means); a usage error exits 2 with a hint."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the sub-command's parser, so the hint names its --help
        sub_parsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        owner = sub_parsers.choices.get(args.command, parser) if args.command else parser
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "manifests", None) is None:
        args.manifests = args.ui_manifests
    if getattr(args, "env", None) is None:
        args.env = args.ui_env
    return args


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
