"""`energy-tui audit list`: the audit log, newest first."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from energy_tui import clock
from energy_tui.cli.arguments import whole_number
from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import add_api_key_option, command_actor, connected
from energy_tui.services import audit
from energy_tui.services.audit import AuditEntry
from energy_tui.services.permissions import Action

COLUMNS = ["created_at", "event_type", "actor", "outcome", "ip_address", "details"]
MAX_LIMIT = 10_000
SINCE_FORMS = audit.SINCE_FORMS


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
    listing.set_defaults(handler=run_list)


def parse_since(raw: str | None, now: dt.datetime) -> dt.datetime | None:
    return audit.parse_since(raw, now, label="--since")


def run_list(args: argparse.Namespace) -> int:
    since = parse_since(args.since, clock.now())
    with connected(args):
        command_actor(args, Action.READ_AUDIT)
        rows = audit.entries(
            since=since, username=args.user, event_type=args.event, limit=args.limit
        )
    if args.json:
        print_json(rows)
    else:
        print_table([_row(entry) for entry in rows], COLUMNS)
    return 0


def _row(entry: AuditEntry) -> dict[str, object]:
    details = " ".join(f"{key}={json.dumps(value)}" for key, value in entry.data.items())
    return {**vars(entry), "details": details}
