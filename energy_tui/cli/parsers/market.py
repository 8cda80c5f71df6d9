"""`energy-tui order|book|trades|stats|market` (run by `market_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.arguments import whole_number
from energy_tui.cli.parsers import command
from energy_tui.terms import RULE_SETTINGS

WHEN_FORMS = "a date like 2026-01-31, a date-time like 2026-01-31T08:00 (UTC), or 24h / 7d ago"
EXPORT_ALL = 1_000_000_000  # `trades export`'s limit: all of them


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    _register_order(sub, common)
    _register_book(sub, common)
    _register_trades(sub, common)
    _register_stats(sub, common)
    _register_market(sub, common)


def _order_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("side", help="buy or sell")
    parser.add_argument("amount", help="kWh, more than 0, at most 2 decimals")
    parser.add_argument(
        "price",
        help="limit in WATT per kWh, more than 0, at most 4 decimals; or `market`: fill "
        "at once from the best price, up to a cap, and cancel the rest",
    )
    parser.add_argument(
        "--max-price",
        metavar="P",
        help="a market buy's cap: the most it pays per kWh (default: the market's price "
        "band above the last trade or the mid)",
    )
    parser.add_argument(
        "--min-price",
        metavar="P",
        help="a market sell's cap: the least it takes per kWh (default: the market's price "
        "band below the last trade or the mid)",
    )


def _register_order(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("order", parents=[common], help="place, preview, cancel, list orders")
    commands = parser.add_subparsers(dest="order_command", metavar="ACTION", required=True)

    place = command(
        commands, "place", common, "market_cmd:run_place", "place a limit order", for_trader=True
    )
    _order_arguments(place)
    place.add_argument(
        "--ioc", action="store_true", help="immediate or cancel: cancel what does not fill now"
    )
    place.add_argument(
        "--fok",
        action="store_true",
        help="fill or kill: fill all of it at once within the limit, or do nothing",
    )
    place.add_argument(
        "--yes",
        action="store_true",
        help="place it even if the price is more than the market's band from the last trade "
        "or it commits more than half of what is available (refused otherwise)",
    )
    place.add_argument(
        "--expires",
        metavar="WHEN",
        help="a duration like 30m, 2h, 7d or a UTC date/time "
        "(default: the market rule ORDER_TTL_HOURS)",
    )

    preview = command(
        commands,
        "preview",
        common,
        "market_cmd:run_preview",
        "what an order would cost and fill now (writes nothing)",
        for_trader=True,
    )
    _order_arguments(preview)

    cancel = command(
        commands,
        "cancel",
        common,
        "market_cmd:run_cancel",
        "cancel one of your orders, or all of them (--all)",
        for_trader=True,
    )
    cancel.add_argument(
        "id", metavar="ID", nargs="?", help="the order id, as `order list` shows it"
    )
    cancel.add_argument("--all", action="store_true", help="cancel all your open orders")
    cancel.add_argument("--side", metavar="SIDE", help="with --all: only buy or only sell")

    amend = command(
        commands,
        "amend",
        common,
        "market_cmd:run_amend",
        "change the price or amount of one of your open orders",
        for_trader=True,
    )
    amend.add_argument("id", metavar="ID", help="the order id, as `order list` shows it")
    amend.add_argument("--price", metavar="P", help="the new limit (loses time priority)")
    amend.add_argument(
        "--amount",
        metavar="A",
        help="the new whole amount in kWh, fills included (smaller keeps time priority, "
        "larger loses it)",
    )
    amend.add_argument(
        "--yes",
        action="store_true",
        help="amend even if the new price is far from the market or it commits more than "
        "half of what is available (refused otherwise)",
    )

    listing = command(
        commands,
        "list",
        common,
        "market_cmd:run_list",
        "your orders (open ones by default)",
        for_trader=True,
    )
    listing.add_argument(
        "--status",
        metavar="STATUS",
        help="open (default), filled, cancelled, expired or all",
    )
    listing.add_argument("--all", action="store_true", help="the same as --status all")
    listing.add_argument("--since", metavar="WHEN", help=f"placed from {WHEN_FORMS}")

    show = command(
        commands,
        "show",
        common,
        "market_cmd:run_show",
        "one of your orders and its fills",
        for_trader=True,
    )
    show.add_argument("id", metavar="ID", help="the order id, as `order list` shows it")


def _register_book(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    book = command(sub, "book", common, "market_cmd:run_book", "the order book by price level")
    book.add_argument(
        "--depth",
        type=whole_number(1, 500),
        default=10,
        metavar="N",
        help="price levels per side (10)",
    )


def _trade_filters(parser: argparse.ArgumentParser, default_limit: str | None) -> None:
    parser.add_argument("--mine", action="store_true", help="only the key owner's trades")
    parser.add_argument(
        "--side", metavar="SIDE", help="buy or sell: only your buys or sells (implies --mine)"
    )
    parser.add_argument("--since", metavar="WHEN", help=f"from {WHEN_FORMS}")
    parser.add_argument(
        "--until", metavar="WHEN", help="up to this moment (a date: through its end)"
    )
    limit = f"at most N trades ({default_limit})" if default_limit else "at most N trades (all)"
    parser.add_argument(
        "--limit", type=whole_number(1, EXPORT_ALL), default=default_limit, metavar="N", help=limit
    )


def _register_trades(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("trades", parents=[common], help="the market's trades")
    commands = parser.add_subparsers(dest="trades_command", metavar="ACTION", required=True)
    listing = command(
        commands, "list", common, "market_cmd:run_trades", "recent trades, newest first"
    )
    _trade_filters(listing, "50")
    export = command(
        commands, "export", common, "market_cmd:run_export", "write trades to a CSV file"
    )
    export.add_argument(
        "--csv", required=True, metavar="FILE", help="the file to write (a new one)"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace FILE if it exists (never a link)"
    )
    _trade_filters(export, None)


def _register_stats(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("stats", parents=[common], help="daily market statistics")
    commands = parser.add_subparsers(dest="stats_command", metavar="ACTION", required=True)
    show = command(commands, "show", common, "market_cmd:run_stats", "one row per UTC day")
    show.add_argument(
        "--days", type=whole_number(1, 3660), default=7, metavar="N", help="the last N days (7)"
    )
    command(
        commands,
        "rebuild",
        common,
        "market_cmd:run_rebuild",
        "recompute the daily rows from the trades",
    )


def _register_market(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("market", parents=[common], help="market maintenance (operators)")
    commands = parser.add_subparsers(dest="market_command", metavar="ACTION", required=True)
    command(
        commands,
        "sweep",
        common,
        "market_cmd:run_sweep",
        "expire due orders and release their holds",
    )
    command(
        commands,
        "check",
        common,
        "market_cmd:run_check",
        "check the six invariants (exit 1 if broken)",
    )
    rules = command(
        commands,
        "rules",
        common,
        "market_cmd:run_rules",
        "the market rules: fee, receiver, lifetime, ...",
    )
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    setter = command(
        actions,
        "set",
        common,
        "market_cmd:run_rule_set",
        "change one market rule (admins; audited)",
    )
    names = ", ".join(RULE_SETTINGS)
    setter.add_argument("name", metavar="NAME", help=f"one of {names}")
    setter.add_argument("value", metavar="VALUE", help="the new value")
