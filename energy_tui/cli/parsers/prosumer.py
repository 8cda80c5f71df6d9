"""`energy-tui prosumer add|list|show|deposit|withdraw|meter` (run by `prosumer_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.key_file import add_api_key_option
from energy_tui.terms import PROSUMER_KINDS


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("prosumer", parents=[common], help="prosumers and their balances")
    commands = parser.add_subparsers(dest="prosumer_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", parents=[common], help="create a prosumer")
    add.add_argument("address")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", default="residential", help=f"one of {', '.join(PROSUMER_KINDS)}")
    add.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(add)
    add.set_defaults(handler="prosumer_cmd:run_add")

    listing = commands.add_parser("list", parents=[common], help="list prosumers")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler="prosumer_cmd:run_list")

    show = commands.add_parser("show", parents=[common], help="balances of one prosumer")
    show.add_argument("address")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(show)
    show.set_defaults(handler="prosumer_cmd:run_show")

    for name, verb in (("deposit", "add WATT to"), ("withdraw", "take available WATT from")):
        move = commands.add_parser(name, parents=[common], help=f"{verb} a prosumer")
        move.add_argument("address")
        move.add_argument("amount", help="WATT, at most 2 decimals")
        move.add_argument("--json", action="store_true", help="print JSON")
        add_api_key_option(move)
        move.set_defaults(handler="prosumer_cmd:run_move", move=name)

    meter = commands.add_parser("meter", parents=[common], help="add a meter reading")
    meter.add_argument("address")
    meter.add_argument("--generated", default="0", metavar="KWH")
    meter.add_argument("--consumed", default="0", metavar="KWH")
    meter.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(meter)
    meter.set_defaults(handler="prosumer_cmd:run_meter")
