"""`energy-tui alert add|list|remove`: one's price alerts on the last trade price.

They act as the owner of the API key (ENERGY_TUI_API_KEY or `--api-key-file`), which needs
`read`: an alert changes nothing in the market. The app shows a fired alert in every
terminal of its user (a toast and the bell); `alert list --all` shows them here.
"""

from __future__ import annotations

import argparse
from typing import Any

from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import api_actor, connected
from energy_tui.services import alerts
from energy_tui.services.alerts import AlertView

COLUMNS = ["id", "direction", "price", "status", "created_at", "fired_at", "fired_price"]


def alert_dict(alert: AlertView) -> dict[str, Any]:
    return {
        "id": alert.id,
        "direction": alert.direction,
        "price": alert.price,
        "status": alert.status,
        "created_at": alert.created_at,
        "fired_at": alert.fired_at,
        "fired_price": alert.fired_price,
    }


def run_add(args: argparse.Namespace) -> int:
    direction, price = alerts.alert_request(args.direction, args.price)  # before connecting
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        alert = alerts.add(actor, direction, price)
    if args.json:
        print_json(alert_dict(alert))
    else:
        print(f"alert {alert.id}: when the last price is {direction} {price} WATT/kWh")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        rows = alerts.list_alerts(actor, include_fired=args.all)
    if args.json:
        print_json([alert_dict(alert) for alert in rows])
    else:
        print_table([alert_dict(alert) for alert in rows], COLUMNS)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    alert_id = alerts.alert_id(args.id)  # checked before connecting
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        alert = alerts.remove(actor, alert_id)
    if args.json:
        print_json(alert_dict(alert))
    else:
        print(f"removed alert {alert.id} ({alert.direction} {alert.price})")
    return 0
