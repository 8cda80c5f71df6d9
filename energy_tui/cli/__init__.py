"""The `energy-tui` command: the TUI when run bare, operator commands otherwise.

A bare `energy-tui [--db URL]` starts the app without importing the operator commands
and, with them, Peewee and the database drivers (about 180 ms): the login screen paints
first and the database layer loads behind it (`benchmarks/tui.py` measures the launch).
A command's parser imports no service either (`cli.parsers`): `--help` loads argparse
and the argument checks only, a command the modules its handler needs (issue 15).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from energy_tui.cli import tui_cmd
from energy_tui.cli.arguments import (
    key_as_key_file,
    key_on_command_line,
    non_utf8_argument,
    one_line,
)
from energy_tui.errors import DatabaseUnavailable, EnergyError
from energy_tui.redact import without_secrets


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    reason = key_on_command_line(argv) or key_as_key_file(argv) or non_utf8_argument(argv)
    if reason is not None:
        print(f"energy-tui: {reason}", file=sys.stderr)
        return 2
    args = tui_arguments(argv)
    if args is not None:
        return guarded(tui_cmd.run, args)
    from energy_tui.cli.commands import build_parser, run

    return guarded(run, build_parser().parse_args(argv))


def tui_arguments(argv: Sequence[str]) -> argparse.Namespace | None:
    """The arguments of a bare `energy-tui [--db URL]`; None for anything else (a
    command, --help, --version, a mistake), which the full parser then handles."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--db", default=argparse.SUPPRESS)
    try:
        args, rest = parser.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    return None if rest else args


def guarded(handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a command, with its log; turn every failure into one line on stderr and an
    exit status."""
    import logging  # here, with the log file: `--help` runs no command and logs nothing

    from energy_tui import locations, logs

    logs.setup()
    log = logging.getLogger("energy_tui.cli")
    try:
        return handler(args) or 0
    except BrokenPipeError:  # `energy-tui ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EnergyError as exc:
        message = without_secrets(str(exc))  # it may echo a key typed as a value
        log.info("%s: %s", type(exc).__name__, message)
        print(f"energy-tui: {one_line(message)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if _database_error(exc):
            log.exception("database error")
            print(
                f"energy-tui: the database stopped answering ({type(exc).__name__}); "
                f"details in {locations.log_file()}",
                file=sys.stderr,
            )
            return DatabaseUnavailable.exit_code
        log.exception("unexpected error in %s", getattr(args, "command", None) or "the app")
        print(
            f"energy-tui: unexpected error ({type(exc).__name__}); details in "
            f"{locations.log_file()}",
            file=sys.stderr,
        )
        return 1


def _database_error(exc: Exception) -> bool:
    peewee = sys.modules.get("peewee")  # loaded whenever a database call could fail
    return peewee is not None and isinstance(exc, peewee.OperationalError | peewee.InterfaceError)
