"""`energy-tui audit list` (run by `audit_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.arguments import whole_number
from energy_tui.cli.key_file import add_api_key_option
from energy_tui.terms import SINCE_FORMS

MAX_LIMIT = 10_000


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("audit", parents=[common], help="the audit log")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", parents=[common], help="audit entries, newest first")
    listing.add_argument("--since", metavar="WHEN", help=SINCE_FORMS + " (UTC)")
    listing.add_argument(
        "--user",
        metavar="NAME",
        help="only entries by or about this user (their logins, key uses, denials, and "
        "changes made to their account or keys)",
    )
    listing.add_argument("--event", metavar="TYPE", help="only this event type, e.g. login_failed")
    listing.add_argument(
        "--limit",
        type=whole_number(1, MAX_LIMIT),
        metavar="N",
        default=100,
        help="at most N entries (100)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler="audit_cmd:run_list")
