"""The `floe-tui` command. Headless: imports no Textual and no engine driver up front."""

from __future__ import annotations

import argparse
import sys

from floe_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floe-tui",
        description="Governed multi-engine compute: check, plan and query from a terminal.",
    )
    parser.add_argument("--version", action="version", version=f"floe-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="a health round and a sample query on an in-memory DuckDB target")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in (None, "demo"):
        from floe_tui.demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
