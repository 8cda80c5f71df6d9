"""The `energy-tui` command: the TUI when run bare, operator commands otherwise."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import peewee

from energy_tui import __version__, locations, logs
from energy_tui.cli import (
    audit_cmd,
    db_cmd,
    demo_cmd,
    key_cmd,
    market_cmd,
    prosumer_cmd,
    tui_cmd,
    user_cmd,
)
from energy_tui.errors import DatabaseUnavailable, EnergyError

log = logging.getLogger("energy_tui.cli")
COMMANDS = (db_cmd, user_cmd, prosumer_cmd, key_cmd, audit_cmd, market_cmd, demo_cmd)


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
    parser = argparse.ArgumentParser(
        prog="energy-tui",
        parents=[common],
        description="Peer-to-peer energy trading desk. Run without a command for the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"energy-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.setup()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None) or tui_cmd.run
    try:
        return handler(args) or 0
    except BrokenPipeError:  # `energy-tui ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EnergyError as exc:
        log.info("%s: %s", type(exc).__name__, exc)
        print(f"energy-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        log.exception("database error")
        print(
            f"energy-tui: the database stopped answering ({type(exc).__name__}); "
            f"details in {locations.log_file()}",
            file=sys.stderr,
        )
        return DatabaseUnavailable.exit_code
    except Exception as exc:
        log.exception("unexpected error in %s", args.command)
        print(
            f"energy-tui: unexpected error ({type(exc).__name__}); details in "
            f"{locations.log_file()}",
            file=sys.stderr,
        )
        return 1
