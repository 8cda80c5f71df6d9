"""The operator commands: one parser for all of them, and the handler each one names."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from energy_tui import __version__
from energy_tui.cli import arguments
from energy_tui.cli.parsers import alert, api, audit, db, demo, key, market, prosumer, user

PARSERS = (db, user, prosumer, key, audit, market, alert, demo, api)

Handler = Callable[[argparse.Namespace], int | None]


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (overrides DATABASE_URL, .env and the config file)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = arguments.Parser(
        prog="energy-tui",
        parents=[common],
        description="Peer-to-peer energy trading desk. Run without a command for the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"energy-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in PARSERS:
        module.register(sub, common)
    return parser


def handler_of(args: argparse.Namespace) -> Handler:
    """The function the parsed command names ("market_cmd:run_book"), its module imported
    now; with no command, the TUI's."""
    module, _, function = getattr(args, "handler", "tui_cmd:run").partition(":")
    handler: Handler = getattr(importlib.import_module(f"energy_tui.cli.{module}"), function)
    return handler


def run(args: argparse.Namespace) -> int | None:
    """Run the command parsed into `args`."""
    return handler_of(args)(args)
