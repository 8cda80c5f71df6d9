"""`energy-tui audit list`: the audit log, newest first."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from energy_tui import clock
from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import command_actor, connected
from energy_tui.services import audit
from energy_tui.services.audit import AuditEntry
from energy_tui.services.permissions import Action

COLUMNS = ["created_at", "event_type", "actor", "outcome", "ip_address", "details"]


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
