"""`energy-tui prosumer add|list|show|deposit|withdraw|meter`."""

from __future__ import annotations

import argparse

from energy_tui.cli.output import print_fields, print_json, print_table
from energy_tui.cli.runtime import add_api_key_option, command_actor, connected
from energy_tui.db.models import PROSUMER_KINDS
from energy_tui.services import prosumers
from energy_tui.services.permissions import Action, require
from energy_tui.services.prosumers import Balances


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("prosumer", parents=[common], help="prosumers and their balances")
    commands = parser.add_subparsers(dest="prosumer_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", parents=[common], help="create a prosumer")
    add.add_argument("address")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", default="residential", help=f"one of {', '.join(PROSUMER_KINDS)}")
    add.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(add)
    add.set_defaults(handler=run_add)

    listing = commands.add_parser("list", parents=[common], help="list prosumers")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler=run_list)

    show = commands.add_parser("show", parents=[common], help="balances of one prosumer")
    show.add_argument("address")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(show)
    show.set_defaults(handler=run_show)

    for name, verb in (("deposit", "add WATT to"), ("withdraw", "take available WATT from")):
        move = commands.add_parser(name, parents=[common], help=f"{verb} a prosumer")
        move.add_argument("address")
        move.add_argument("amount", help="WATT, at most 2 decimals")
        move.add_argument("--json", action="store_true", help="print JSON")
        add_api_key_option(move)
        move.set_defaults(handler=run_move, move=name)

    meter = commands.add_parser("meter", parents=[common], help="add a meter reading")
    meter.add_argument("address")
    meter.add_argument("--generated", default="0", metavar="KWH")
    meter.add_argument("--consumed", default="0", metavar="KWH")
    meter.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(meter)
    meter.set_defaults(handler=run_meter)


def as_dict(b: Balances) -> dict[str, object]:
    return {
        "address": b.address,
        "name": b.name,
        "kind": b.kind,
        "watt_total": b.watt_total,
        "watt_reserved": b.watt_reserved,
        "watt_available": b.watt_available,
        "energy_credits": b.energy_credits,
        "energy_reserved": b.energy_reserved,
        "energy_available": b.energy_available,
        "energy_generated": b.energy_generated,
        "energy_consumed": b.energy_consumed,
        "energy_bought": b.energy_bought,
        "energy_sold": b.energy_sold,
        "grid_tokens": b.grid_tokens,
    }


def _show(b: Balances, as_json: bool) -> None:
    if as_json:
        print_json(as_dict(b))
        return
    print_fields(
        [
            ("address", b.address),
            ("name", b.name),
            ("kind", b.kind),
            ("WATT total", b.watt_total),
            ("WATT reserved", b.watt_reserved),
            ("WATT available", b.watt_available),
            ("energy credits", f"{b.energy_credits} kWh"),
            ("energy reserved", f"{b.energy_reserved} kWh"),
            ("energy available", f"{b.energy_available} kWh"),
            ("generated / consumed", f"{b.energy_generated} / {b.energy_consumed} kWh"),
            ("bought / sold", f"{b.energy_bought} / {b.energy_sold} kWh"),
            ("GRID", b.grid_tokens),
        ]
    )


def run_add(args: argparse.Namespace) -> int:
    with connected(args):
        b = prosumers.add_prosumer(command_actor(args), args.address, args.name, args.kind)
    if args.json:
        print_json(as_dict(b))
    else:
        print(f"created {b.kind} prosumer {b.address!r} ({b.name})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connected(args):
        command_actor(args, Action.MANAGE_PROSUMERS)
        rows = [as_dict(b) for b in prosumers.list_prosumers()]
    if args.json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                "address",
                "name",
                "kind",
                "watt_total",
                "watt_available",
                "energy_credits",
                "energy_available",
                "grid_tokens",
            ],
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with connected(args):
        actor = command_actor(args)
        own = actor.prosumer_address == args.address  # a key's owner may read their own
        need = Action.READ_MARKET if own else Action.MANAGE_PROSUMERS
        require(actor, need, address=args.address[:100])
        b = prosumers.balances(args.address)
    _show(b, args.json)
    return 0


def run_move(args: argparse.Namespace) -> int:
    move = prosumers.deposit if args.move == "deposit" else prosumers.withdraw
    with connected(args):
        b = move(command_actor(args), args.address, args.amount)
    _show(b, args.json)
    return 0


def run_meter(args: argparse.Namespace) -> int:
    with connected(args):
        b = prosumers.add_meter_reading(
            command_actor(args), args.address, args.generated, args.consumed
        )
    _show(b, args.json)
    return 0
