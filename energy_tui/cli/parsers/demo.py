"""`energy-tui demo` and `energy-tui serve` (run by `demo_cmd`)."""

from __future__ import annotations

import argparse
from decimal import Decimal

from energy_tui.cli.arguments import decimal_number, whole_number


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo", help="a live simulated market in its own SQLite file (never your database)"
    )
    parser.add_argument("--reset", action="store_true", help="start the demo database afresh")
    parser.add_argument(
        "--seed",
        type=whole_number(0, 2**32 - 1),
        default=7,
        help="seed of the community (default 7)",
    )
    parser.add_argument(
        "--bots", type=whole_number(0, 32), default=4, help="market bots (0-32, default 4)"
    )
    parser.add_argument(
        "--speed",
        type=decimal_number(Decimal("0.01"), Decimal(100)),
        default=Decimal(1),
        help="bot speed multiplier, 0.01-100 (default 1: about one action a second each)",
    )
    parser.add_argument(
        "--as", dest="as_user", metavar="USER", help="log in as this demo user at once"
    )
    parser.set_defaults(handler="demo_cmd:run_demo")

    serve = sub.add_parser(
        "serve", parents=[common], help="the app in a web browser through textual-serve"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--port", type=whole_number(1, 65535), default=8000, help="port to listen on (default 8000)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="serve the demo market (bots run in this process)"
    )
    serve.set_defaults(handler="demo_cmd:run_serve")
