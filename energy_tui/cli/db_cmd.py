"""`energy-tui db migrate|status`."""

from __future__ import annotations

import argparse

from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import command_actor, connected
from energy_tui.db import migrations
from energy_tui.services.permissions import Action


def run_migrate(args: argparse.Namespace) -> int:
    with connected(args, migrate=False) as runtime:
        command_actor(args, Action.MIGRATE_DATABASE)
        applied = migrations.migrate(runtime.database, runtime.settings)
        state = migrations.status(runtime.database)
    if args.json:
        print_json(
            {
                "database": str(runtime.url),
                "version": state.current,
                "applied": [f"{s.version:04d}_{s.name}" for s in applied],
            }
        )
    elif applied:
        for step in applied:
            print(f"applied {step.version:04d} {step.name}")
        print(f"{runtime.url}: schema at version {state.current}")
    else:
        print(f"{runtime.url}: schema at version {state.current}, nothing to do")
    return 0


def run_status(args: argparse.Namespace) -> int:
    with connected(args, migrate=False) as runtime:
        command_actor(args)  # a key given must be valid, whatever the command
        state = migrations.status(runtime.database)
    if args.json:
        print_json(
            {
                "database": str(runtime.url),
                "version": state.current,
                "pending": [f"{s.version:04d}_{s.name}" for s in state.pending],
            }
        )
        return 0
    print(f"database: {runtime.url}")
    print(f"version:  {state.current}")
    rows = [
        {"version": f"{s.version:04d}", "name": s.name, "state": "applied"} for s in state.applied
    ]
    rows += [
        {"version": f"{s.version:04d}", "name": s.name, "state": "pending"} for s in state.pending
    ]
    print_table(rows, ["version", "name", "state"])
    return 0
