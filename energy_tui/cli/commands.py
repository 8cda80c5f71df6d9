"""The operator commands: one parser for all of them."""

from __future__ import annotations

import argparse

from energy_tui import __version__
from energy_tui.cli import (
    alert_cmd,
    api_cmd,
    arguments,
    audit_cmd,
    db_cmd,
    demo_cmd,
    key_cmd,
    market_cmd,
    prosumer_cmd,
    user_cmd,
)

COMMANDS = (
    db_cmd,
    user_cmd,
    prosumer_cmd,
    key_cmd,
    audit_cmd,
    market_cmd,
    alert_cmd,
    demo_cmd,
    api_cmd,
)


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
    for module in COMMANDS:
        module.register(sub, common)
    return parser
