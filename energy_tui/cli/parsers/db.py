"""`energy-tui db migrate|status` (run by `db_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.key_file import add_api_key_option


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("db", parents=[common], help="database schema: migrate, status")
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = commands.add_parser(
        "migrate", parents=[common], help="apply pending migrations (safe to repeat)"
    )
    migrate.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(migrate)
    migrate.set_defaults(handler="db_cmd:run_migrate")
    status = commands.add_parser(
        "status", parents=[common], help="current schema version and pending steps"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(status)
    status.set_defaults(handler="db_cmd:run_status")
