"""`energy-tui order|book|trades|stats|market`: the market from the command line.

Trading commands act as the owner of the API key (ENERGY_TUI_API_KEY or `--api-key-file`):
`trade` to place and cancel, `read` to look. Market-wide reads (book, trades, stats)
also work without a key, as the local operator; `stats rebuild`, `market sweep` and
`market check` are operator commands (the local operator, or a key with `manage`).
`market rules` shows the market's rules to anyone; `market rules set` is for admins.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from energy_tui import clock
from energy_tui.cli.output import print_fields, print_json, print_table
from energy_tui.cli.parsers.market import EXPORT_ALL, WHEN_FORMS
from energy_tui.cli.runtime import (
    Runtime,
    api_actor,
    command_actor,
    connected,
)
from energy_tui.db.models import EnergyOrder, EnergyTrade, MarketStatistics, Prosumer
from energy_tui.errors import NotFound, ValidationError
from energy_tui.services import validation
from energy_tui.services.context import Actor
from energy_tui.services.market import (
    OrderRequest,
    amend_order,
    cancel_all,
    cancel_order,
    guard,
    order_request,
    own_address,
    place_order,
    stats,
    sweep_expired,
)
from energy_tui.services.market import book as market
from energy_tui.services.market import rules as market_rules
from energy_tui.services.market.book import Book, Level, Preview, TradeFilter, TradeView
from energy_tui.services.market.sql import market_busy
from energy_tui.services.market.views import Fill, OrderView, PlaceResult
from energy_tui.services.permissions import Action

KWH = Decimal("0.01")
WATT = Decimal("0.01")
ORDER_COLUMNS = [
    "id",
    "side",
    "amount",
    "price",
    "filled",
    "remaining",
    "status",
    "tif",
    "reserved",
    "created_at",
    "expires_at",
]
HISTORY_COLUMNS = [
    "id",
    "side",
    "kind",
    "amount",
    "price",
    "filled",
    "avg_price",
    "status",
    "tif",
    "created_at",
    "reason",
]
FILL_COLUMNS = ["seq", "amount", "price", "total", "fee", "buyer_total", "buyer", "seller"]
TRADE_COLUMNS = [
    "seq",
    "executed_at",
    "amount",
    "price",
    "total",
    "fee",
    "buyer",
    "seller",
    "taker",
]
STATS_COLUMNS = ["date", "trades", "volume", "vwap", "high", "low", "open_buys", "open_sells"]
SIZES = ("prosumer", "order", "trade")


# --- who acts --------------------------------------------------------------------------


def _reader(args: argparse.Namespace, runtime: Runtime, *, personal: bool) -> Actor:
    """The key's owner (with `read`); without a key, market-wide reads run as the local
    operator, who can read the database anyway."""
    if personal:
        return api_actor(args, runtime, "read")
    return command_actor(args, "read")


def _operator(args: argparse.Namespace, runtime: Runtime) -> Actor:
    return command_actor(args, Action.MANAGE_PROSUMERS)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


# --- input -----------------------------------------------------------------------------


def moment(raw: str | None, label: str, now: dt.datetime, *, through: bool = False) -> Any:
    """A UTC moment from a date, a date-time or an age (`7d`: seven days ago). With
    `through`, a bare date means the end of that day."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if through and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return day_after(dt.datetime.fromisoformat(text))
        return validation.moment_back(text, now)
    except OverflowError:  # `999999w` ago, or an offset taking the moment out of the calendar
        raise ValidationError(
            f"{label} {text[:40]!r} is out of range: {validation.CALENDAR}", field=label
        ) from None
    except ValueError:
        raise ValidationError(
            f"{label} {text[:40]!r} is not understood: "
            f"{validation.digits_hint(text)}give {WHEN_FORMS}",
            field=label,
        ) from None


def day_after(day: dt.datetime) -> dt.datetime | None:
    """The (exclusive) end of `day`; None, no end at all, through the calendar's last day."""
    return None if day.date() == dt.date.max else day + dt.timedelta(days=1)


def trade_filter(args: argparse.Namespace, default_limit: int) -> TradeFilter:
    """The filters as typed (checked before anything connects); `address` comes later."""
    now = clock.now()
    since = moment(args.since, "--since", now)
    until = moment(args.until, "--until", now, through=True)
    if since is not None and until is not None and since >= until:
        raise ValidationError("--since must be before --until", field="since")
    side = None
    if args.side:
        side = args.side.strip().lower()
        if side not in ("buy", "sell"):
            raise ValidationError(
                f"--side {args.side[:20]!r} is not valid: expected buy or sell", field="side"
            )
    limit = args.limit or default_limit
    return TradeFilter(None, side, since, until, limit)


def _trades_for(args: argparse.Namespace, runtime: Runtime, spec: TradeFilter) -> TradeFilter:
    """The filter with the key owner's address when only their trades are asked for."""
    personal = bool(args.mine or spec.side)
    actor = _reader(args, runtime, personal=personal)
    return dataclasses.replace(spec, address=own_address(actor)) if personal else spec


# --- orders ----------------------------------------------------------------------------


def typed_request(args: argparse.Namespace, *, ioc: bool = False, fok: bool = False) -> Any:
    """The order as typed: a limit order, or `market` with its optional cap."""
    market_order = args.price.strip().lower() == "market"
    side = args.side.strip().lower()
    cap_flags = {"buy": "--max-price", "sell": "--min-price"}
    for flag, given in (("--max-price", args.max_price), ("--min-price", args.min_price)):
        if given is None:
            continue
        if not market_order:
            raise ValidationError(
                f"{flag} is for market orders: a limit order's price is its limit", field="price"
            )
        if side in cap_flags and cap_flags[side] != flag:
            raise ValidationError(
                f"{flag} does not apply to a market {side}: its cap is {cap_flags[side]}",
                field="price",
            )
    cap = args.max_price if args.max_price is not None else args.min_price
    price = cap if market_order else args.price
    expires = getattr(args, "expires", None)
    return order_request(
        args.side, args.amount, price, ioc=ioc, fok=fok, market=market_order, expires=expires
    )


@market_busy  # the key check waits for the same lock on SQLite
def run_place(args: argparse.Namespace) -> int:
    # what was typed is checked before anything connects (the database's minimum order
    # value, a market rule, is checked when the order is placed)
    request = typed_request(args, ioc=args.ioc, fok=args.fok)
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "trade")
        try:
            guard.require_safe(own_address(actor), request, args.yes)
        except guard.Unconfirmed as stopped:
            raise _pin_the_cap(request, stopped) from None
        result = place_order(actor, request)
    return print_result(args, result)


def _pin_the_cap(request: OrderRequest, stopped: guard.Unconfirmed) -> ValidationError:
    """The guard's question about a market order without a cap names the default cap it
    judged; with --yes alone the cap is read again when placed, and the market may have
    moved by then: say how to place it at the cap the question named."""
    if request.kind != "market" or request.price is not None:
        return stopped
    flag = "--max-price" if request.side == "buy" else "--min-price"
    return ValidationError(
        f"{stopped} (the default cap is read again when placed: add {flag} "
        f"{stopped.caution.request.price} to place it at the cap judged here)"
    )


def print_result(args: argparse.Namespace, result: PlaceResult, verb: str = "") -> int:
    if args.json:
        print_json(
            {"order": order_dict(result.order), "fills": [fill_dict(f) for f in result.fills]}
        )
        return 0
    print(verb + placed_sentence(result))
    if result.fills:
        print_table([fill_dict(f) for f in result.fills], FILL_COLUMNS)
    return 0


def placed_sentence(result: PlaceResult) -> str:
    o = result.order
    at = f"capped at {o.price}" if o.kind == "market" else f"at {o.price}"
    head = f"order {o.id}: {o.side} {o.amount} kWh {at} WATT/kWh"
    traded = plural(len(result.fills), "trade")
    filled = f"{o.filled.quantize(KWH)} kWh filled in {traded}"
    if o.status == "filled":
        return f"{head}: filled in {traded}"
    if o.status == "cancelled":
        tif = o.time_in_force.upper()
        tag = f"market, {tif}" if o.kind == "market" else tif
        if o.time_in_force == "fok" and not result.fills:
            return f"{head} ({tag}): nothing done: {o.reason}"
        reason = f" ({o.reason})" if o.reason else ""
        return f"{head} ({tag}): {filled}, {o.remaining.quantize(KWH)} kWh cancelled{reason}"
    until = f" until {o.expires_at:%Y-%m-%d %H:%M} UTC" if o.expires_at else ""
    rests = f"{o.remaining.quantize(KWH)} kWh resting on the book{until}"
    return f"{head}: {filled}, {rests}" if result.fills else f"{head}: {rests}"


def run_preview(args: argparse.Namespace) -> int:
    typed = typed_request(args)  # checked before connecting
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        market_order = typed.kind == "market"
        request = order_request(
            typed.side, typed.amount, typed.price, market_rules.current(), market=market_order
        )
        preview = market.preview(
            actor.prosumer_address,
            request.side,
            request.amount,
            request.price,
            market=market_order,
        )
    if args.json:
        print_json(preview)
    else:
        print_fields(preview_fields(preview))
    return 0


def preview_fields(p: Preview) -> list[tuple[str, object]]:
    unit = "WATT" if p.side == "buy" else "kWh"
    if p.kind == "market":
        how = p.cap_note or "as given"
        fields: list[tuple[str, object]] = [
            ("order", f"market {p.side} {p.amount} kWh, capped at {p.price} WATT/kWh ({how})"),
            ("at the cap", f"{p.base_cost} WATT"),
        ]
    else:
        fields = [
            ("order", f"{p.side} {p.amount} kWh at {p.price} WATT/kWh"),
            ("at the limit", f"{p.base_cost} WATT"),
        ]
    if p.side == "buy":
        fields += [
            ("grid fee", f"{p.fee} WATT ({percent(p.fee_rate)}, rounded up to the cent)"),
            ("total (reserved)", f"{p.total} WATT"),
            ("from the grid", f"{p.grid_cost} WATT at {p.grid_import_price} WATT/kWh"),
            ("savings", f"{p.savings} WATT"),
        ]
    else:
        fields.append(("you receive", f"{p.total} WATT at the limit (the buyer pays the fee)"))
    if p.fill_now:
        verb = "costing" if p.side == "buy" else "earning"
        fields.append(
            (
                "fills now",
                f"{p.fill_now} kWh at {p.fill_price} on average, {verb} {p.fill_cost} WATT",
            )
        )
        fields.append(("worst price", f"{p.worst_price} WATT/kWh"))
    else:
        fields.append(("fills now", "nothing: no crossing orders on the book"))
    verdict = "enough" if p.enough else "NOT enough: the order would be rejected"
    fields.append(("available", f"{p.available} {unit} ({verdict})"))
    if p.own_cross is not None:
        other = "sell" if p.side == "buy" else "buy"
        fields.append(("rejected", f"it would cross your own {other} order at {p.own_cross}"))
    return fields


@market_busy
def run_cancel(args: argparse.Namespace) -> int:
    if args.all:
        return _cancel_all(args)
    if args.side:
        raise ValidationError("--side goes with --all (cancel all orders of one side)")
    if not args.id:
        raise ValidationError("give the ID of the order to cancel, or --all for all of them")
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "trade")
        order = cancel_order(actor, args.id)
    if args.json:
        print_json(order_dict(order))
    else:
        released = (
            f"{order.remaining.quantize(KWH)} kWh"
            if order.side == "sell"
            else "its WATT reservation"
        )
        print(
            f"cancelled order {order.id} ({order.side} {order.amount} kWh at {order.price}): "
            f"released {released}"
        )
    return 0


def _cancel_all(args: argparse.Namespace) -> int:
    if args.id:
        raise ValidationError("give an order ID or --all, not both")
    side = None
    if args.side:
        side = args.side.strip().lower()
        if side not in ("buy", "sell"):
            raise ValidationError(
                f"--side {args.side[:20]!r} is not valid: expected buy or sell", field="side"
            )
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "trade")
        done = cancel_all(actor, side)
    if args.json:
        print_json(
            {
                "cancelled": len(done.orders),
                "released_watt": done.released_watt,
                "released_energy": done.released_energy,
                "orders": [order_dict(o) for o in done.orders],
            }
        )
        return 0
    which = f"open {side} orders" if side else "open orders"
    if not done.orders:
        print(f"no {which} to cancel")
        return 0
    print(
        f"cancelled {plural(len(done.orders), 'order')}: released {done.released_watt} WATT "
        f"and {done.released_energy} kWh"
    )
    return 0


@market_busy
def run_amend(args: argparse.Namespace) -> int:
    if args.price is None and args.amount is None:
        raise ValidationError("give --price, --amount or both: what should change")
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "trade")
        before = market.get_order(args.id)
        result = amend_order(
            actor, args.id, price=args.price, amount=args.amount, confirmed=args.yes
        )
    # the rule of DESIGN §3: only a smaller amount at the same price keeps the place
    after = result.order
    kept = after.price == before.price and after.amount < before.amount
    if args.json:
        return print_result(args, result)
    place = "kept its place in the queue" if kept else "back of the queue at its price"
    return print_result(args, result, f"amended ({place}): ")


LIST_STATUSES = ("open", "filled", "cancelled", "expired", "all")


def run_list(args: argparse.Namespace) -> int:
    status = (args.status or ("all" if args.all else "open")).strip().lower()
    if status not in LIST_STATUSES:
        raise ValidationError(
            f"--status {args.status[:20]!r} is not valid: expected {', '.join(LIST_STATUSES)}",
            field="status",
        )
    if args.all and args.status and status != "all":
        raise ValidationError(f"--all and --status {status} contradict each other")
    since = moment(args.since, "--since", clock.now())
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        rows = market.order_history(own_address(actor), status=status, since=since, limit=1000)
        current = market.book(depth=1) if any(o.is_open for o in rows) else None
        notes = {o.id: market.why_not_matched(o, current) for o in rows if o.is_open}
    dicts = [order_dict(o) | {"note": notes.get(o.id)} for o in rows]
    if args.json:
        print_json(dicts)
    elif status == "open":
        print_table(dicts, [*ORDER_COLUMNS, "note"])
    else:
        print_table(dicts, HISTORY_COLUMNS)
        if any(o.average_price is not None for o in rows):
            print(
                "avg_price: sum(amount x price) / sum(amount) of the order's fills, "
                "rounded half-even to 4 places"
            )
    return 0


def run_show(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        actor = api_actor(args, runtime, "read")
        address = own_address(actor)
        order = market.order_with_average(args.id)
        if order.trader_address != address:
            raise NotFound(f"no order of yours with id {order.id}")
        fills = market.order_fills(order.id)
    if args.json:
        print_json({"order": order_dict(order), "fills": [trade_dict(t, address) for t in fills]})
        return 0
    print_fields([(key, value) for key, value in order_dict(order).items() if value is not None])
    if fills:
        print_table([trade_dict(t, address) for t in fills], [*TRADE_COLUMNS, "side"])
    else:
        print("no fills")
    return 0


def order_dict(o: OrderView) -> dict[str, Any]:
    return {
        "id": o.id,
        "side": o.side,
        "amount": o.amount,
        "price": o.price,
        "filled": o.filled.quantize(KWH),
        "remaining": o.remaining.quantize(KWH),
        "status": o.status,
        "tif": o.time_in_force,
        "reserved": _reserved(o),
        "created_at": o.created_at,
        "expires_at": o.expires_at,
        "kind": o.kind,
        "avg_price": o.average_price,
        "reason": o.reason,
    }


def _reserved(o: OrderView) -> Decimal:
    """What the order holds, at its column's scale: a buy's WATT, an open sell's
    remainder in kWh (a closed sell holds nothing)."""
    if o.side == "buy":
        return o.watt_reserved.quantize(WATT)
    return o.remaining.quantize(KWH) if o.is_open else Decimal(0).quantize(KWH)


def fill_dict(f: Fill) -> dict[str, Any]:
    return {
        "id": f.id,
        "seq": f.seq,
        "amount": f.amount,
        "price": f.price,
        "total": f.total,
        "fee": f.fee,
        "buyer_total": f.buyer_total,
        "buyer": f.buyer_address,
        "seller": f.seller_address,
        "taker": f.taker_side,
        "executed_at": f.executed_at,
    }


# --- book and trades -------------------------------------------------------------------


def run_book(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        _reader(args, runtime, personal=False)
        current = market.book(args.depth)
    if args.json:
        print_json(book_dict(current))
        return 0
    asks = [level_dict("ask", level) for level in reversed(current.asks)]
    bids = [level_dict("bid", level) for level in current.bids]
    print_table(asks + bids, ["side", "price", "quantity", "orders", "cumulative"])
    print(book_summary(current))
    return 0


def level_dict(side: str, level: Level) -> dict[str, Any]:
    return {
        "side": side,
        "price": level.price,
        "quantity": level.quantity,
        "orders": level.orders,
        "cumulative": level.cumulative,
    }


def book_dict(b: Book) -> dict[str, Any]:
    return {
        "bids": b.bids,
        "asks": b.asks,
        "best_bid": b.best_bid,
        "best_ask": b.best_ask,
        "spread": b.spread,
        "mid": b.mid,
        "last_price": b.last_price,
        "last_change": b.last_change,
        "version": b.version,
    }


def book_summary(b: Book) -> str:
    def shown(value: Decimal | None) -> str:
        return "-" if value is None else str(value)

    change = f" ({b.last_change:+})" if b.last_change is not None else ""
    return (
        f"best bid {shown(b.best_bid)}  best ask {shown(b.best_ask)}  "
        f"spread {shown(b.spread)}  mid {shown(b.mid)}  last {shown(b.last_price)}{change}"
    )


def run_trades(args: argparse.Namespace) -> int:
    spec = trade_filter(args, 50)
    with connected(args) as runtime:
        spec = _trades_for(args, runtime, spec)
        rows = market.trades(spec)
    dicts = [trade_dict(t, spec.address) for t in rows]
    if args.json:
        print_json(dicts)
    else:
        columns = [*TRADE_COLUMNS, "side"] if spec.address else TRADE_COLUMNS
        print_table(dicts, columns)
    return 0


def trade_dict(t: TradeView, address: str | None) -> dict[str, Any]:
    row = {
        "id": t.id,
        "seq": t.seq,
        "executed_at": t.executed_at,
        "amount": t.amount,
        "price": t.price,
        "total": t.total,
        "fee": t.fee,
        "buyer_total": t.buyer_total,
        "buyer": t.buyer_address,
        "seller": t.seller_address,
        "taker": t.taker_side,
        "buy_order_id": t.buy_order_id,
        "sell_order_id": t.sell_order_id,
    }
    if address:
        row["side"] = t.side_for(address)
    return row


def run_export(args: argparse.Namespace) -> int:
    # csv and the file handling load for the export only, not for every market command
    from energy_tui.services.market.export import TargetExists, check_target, write_csv

    path = Path(args.csv).expanduser()
    spec = trade_filter(args, EXPORT_ALL)
    try:
        with connected(args) as runtime:
            check_target(path, args.overwrite)  # before the query (knows the database)
            spec = _trades_for(args, runtime, spec)
            rows = list(reversed(market.trades(spec)))  # oldest first
        write_csv(path, rows, spec.address, overwrite=args.overwrite)
    except TargetExists as exc:
        raise ValidationError(f"{exc}: pass --overwrite to replace it", exc.field) from None
    if args.json:
        print_json({"path": str(path.absolute()), "rows": len(rows)})
    else:
        print(f"wrote {plural(len(rows), 'trade')} to {path.absolute()}")
    return 0


# --- statistics and maintenance ----------------------------------------------------------


def run_stats(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        _reader(args, runtime, personal=False)
        rows = [stats_dict(row) for row in stats.daily(args.days)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, STATS_COLUMNS)
    return 0


def stats_dict(row: Any) -> dict[str, Any]:
    return {
        "date": row.date,
        "trades": row.total_trades,
        "volume": row.total_volume,
        "vwap": row.average_price,
        "high": row.highest_price,
        "low": row.lowest_price,
        "open_buys": row.active_buy_orders,
        "open_sells": row.active_sell_orders,
    }


def run_rebuild(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        _operator(args, runtime)
        fixed = stats.rebuild()
        days = MarketStatistics.select().count()
    if args.json:
        print_json({"fixed": fixed, "days": days})
    elif fixed:  # days, then candle sizes
        print(f"fixed what disagreed with the trades ({plural(days, 'day')} on record):")
        for line in fixed:
            print(f"  {line}")
    else:
        print(
            f"all {days} days and their candles agree with the trades"
            if days != 1
            else "the 1 day on record and its candles agree with the trades"
        )
    return 0


@market_busy
def run_sweep(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        _operator(args, runtime)
        expired = sweep_expired()
    if args.json:
        print_json({"expired": expired})
    else:
        print(f"expired {plural(expired, 'order')}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from energy_tui.services.market import invariants  # a maintenance command's own

    with connected(args) as runtime:
        _operator(args, runtime)
        problems = invariants.check()
        sizes = (
            Prosumer.select().count(),
            EnergyOrder.select().count(),
            EnergyTrade.select().count(),
        )
    if args.json:
        print_json({"ok": not problems, "violations": problems})
    elif problems:
        print(f"{plural(len(problems), 'violation')} of the market invariants:")
        for line in problems:
            print(f"  {line}")
    else:
        counts = ", ".join(plural(n, noun) for n, noun in zip(sizes, SIZES, strict=True))
        print(f"all six invariants hold ({counts})")
    return 1 if problems else 0


# --- the market rules --------------------------------------------------------------------


def run_rules(args: argparse.Namespace) -> int:
    with connected(args) as runtime:
        _reader(args, runtime, personal=False)
        current = market_rules.current()
    if args.json:
        print_json(market_rules.as_dict(current))
        return 0
    rows = [
        {"name": rule.name, "value": market_rules.value_of(current, rule), "meaning": rule.meaning}
        for rule in market_rules.RULES
    ]
    print_table(rows, ["name", "value", "meaning"])
    return 0


def run_rule_set(args: argparse.Namespace) -> int:
    with connected(args):
        change = market_rules.set_rule(
            command_actor(args, Action.MANAGE_MARKET_RULES), args.name, args.value
        )
    if args.json:
        print_json({"name": change.name, "old": change.old, "new": change.new})
    else:
        print(f"{change.name}: {change.old} -> {change.new} (from the next order on)")
    return 0
