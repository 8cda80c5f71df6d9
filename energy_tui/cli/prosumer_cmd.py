"""`energy-tui prosumer add|list|show|deposit|withdraw|meter`."""

from __future__ import annotations

import argparse

from energy_tui.cli.output import print_fields, print_json, print_table
from energy_tui.cli.runtime import command_actor, connected
from energy_tui.db.identity import same_name
from energy_tui.services import prosumers
from energy_tui.services.permissions import Action, require
from energy_tui.services.prosumers import Balances


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
        # a key's owner may read their own, named in any case (one address, as stored)
        own = same_name(actor.prosumer_address, args.address)
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
