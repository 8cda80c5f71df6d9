"""`energy-tui alert add|list|remove` (run by `alert_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.parsers import command


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "alert", parents=[common], help="price alerts on the last trade price (yours)"
    )
    commands = parser.add_subparsers(dest="alert_command", metavar="ACTION", required=True)
    add = command(
        commands,
        "add",
        common,
        "alert_cmd:run_add",
        "alert me when the last price crosses",
        for_trader=True,
    )
    add.add_argument("direction", metavar="above|below", help="above or below the level")
    add.add_argument("price", help="the level in WATT per kWh, more than 0, at most 4 decimals")
    listing = command(
        commands, "list", common, "alert_cmd:run_list", "your waiting alerts", for_trader=True
    )
    listing.add_argument("--all", action="store_true", help="also those that fired")
    remove = command(
        commands,
        "remove",
        common,
        "alert_cmd:run_remove",
        "remove one of your alerts",
        for_trader=True,
    )
    remove.add_argument("id", metavar="ID", help="the alert id, as `alert list` shows it")
