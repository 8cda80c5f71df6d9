"""The read side of the market: the book, orders, trades, previews, hints.

Screens poll `version()` and call the rest only when it moved. The book is built
from aggregates over the (is_active, order_type, price, seq) index, never by
loading orders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from peewee import Case, fn

from energy_tui import clock
from energy_tui.db.exact import exact_sum, exact_value
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES
from energy_tui.db.models import (
    ORDER_IS_ACTIVE,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    Prosumer,
    db,
)
from energy_tui.errors import NotFound, ValidationError
from energy_tui.services.market import reads
from energy_tui.services.market.money import MarketRules, round_price
from energy_tui.services.market.orders import default_cap
from energy_tui.services.market.rules import current as current_rules
from energy_tui.services.market.sql import read_together
from energy_tui.services.market.views import OrderView, PlaceResult, parse_order_id
from energy_tui.services.prosumers import Balances

_ZERO = Decimal(0)
_WATT_ZERO = _ZERO.scaleb(-MONEY_PLACES)  # 0.00 WATT
_KWH_ZERO = _ZERO.scaleb(-ENERGY_PLACES)  # 0.00 kWh


def version() -> int:
    """A number that changes whenever the book or the tape changes."""
    return MarketState.select(MarketState.version).where(MarketState.id == 1).scalar() or 0


@dataclasses.dataclass(frozen=True)
class Level:
    price: Decimal
    quantity: Decimal
    orders: int
    cumulative: Decimal
    mine: Decimal = _ZERO  # what the prosumer the book was read for rests at this price


@dataclasses.dataclass(frozen=True)
class Book:
    bids: list[Level]  # best (highest) first
    asks: list[Level]  # best (lowest) first
    last_price: Decimal | None
    previous_price: Decimal | None
    version: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def spread(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return round_price((self.best_ask + self.best_bid) / 2)

    @property
    def last_change(self) -> Decimal | None:
        if self.last_price is None or self.previous_price is None:
            return None
        return self.last_price - self.previous_price


_REMAINING = EnergyOrder.energy_amount - EnergyOrder.filled_amount


def _remaining(of: str | None = None) -> object:
    """SUM of the remaining kWh (only the orders of prosumer `of`, if given)."""
    if of is None:
        return exact_sum(db, _REMAINING, ENERGY_PLACES)
    mine = Case(None, [(EnergyOrder.trader_address == of, _REMAINING)], 0)
    return exact_sum(db, mine, ENERGY_PLACES)


def levels(
    side: str,
    depth: int,
    now: dt.datetime | None = None,
    *,
    excluding: str | None = None,
    mine: str | None = None,
) -> list[Level]:
    """Top `depth` price levels of one side, best first, with cumulative quantity
    (without the orders of the prosumer `excluding`, if given). With `mine`, each level
    also says how much of it is that prosumer's, summed in the same query."""
    now = now or clock.now()
    price = EnergyOrder.price_per_kwh
    live = EnergyOrder.expires_at.is_null() | (EnergyOrder.expires_at > now)
    wanted = ORDER_IS_ACTIVE & (EnergyOrder.order_type == side) & live
    if excluding is not None:
        wanted &= EnergyOrder.trader_address != excluding
    sums = [_remaining(), fn.COUNT(EnergyOrder.id)]
    if mine is not None:
        sums.append(_remaining(of=mine))
    rows = (
        EnergyOrder.select(price, *sums)
        .where(wanted)
        .group_by(price)
        .order_by(price.desc() if side == "buy" else price.asc())
        .limit(depth)
        .tuples()
    )
    result, total = [], _ZERO
    for level_price, raw, count, *own in rows:
        quantity = exact_value(db, raw, ENERGY_PLACES)
        total += quantity
        result.append(
            Level(
                EnergyOrder.price_per_kwh.python_value(level_price),
                quantity,
                count,
                total,
                exact_value(db, own[0], ENERGY_PLACES) if own else _ZERO,
            )
        )
    return result


def book(depth: int = 20, address: str | None = None) -> Book:
    """The top `depth` levels a side; with `address`, each level carries that
    prosumer's own resting kWh (`Level.mine`), read in the same queries. With the last
    two prices and the change marker: four fixed statements read as tuples
    (`reads.book_statements`), on PostgreSQL in one round trip."""
    now = clock.now()
    name = reads.backend()
    bids_sql, asks_sql, last_sql = reads.book_statements(name, address is not None)
    own = () if address is None else (address,)
    bids, asks, last, marker = read_together(
        (bids_sql, (*own, True, "buy", now, depth)),
        (asks_sql, (*own, True, "sell", now, depth)),
        (last_sql, ()),
        (_VERSION_SQL.format(p=db.param), ()),
    )
    price = reads.price_converter(name)
    prices = [price(row[0]) for row in last]
    return Book(
        _levels(bids, name),
        _levels(asks, name),
        prices[0] if prices else None,
        prices[1] if len(prices) > 1 else None,
        int(marker[0][0]) if marker else 0,
    )


_VERSION_SQL = "SELECT version FROM market_state WHERE id = 1"


def _levels(rows: list[tuple[Any, ...]], backend: str) -> list[Level]:
    price = reads.price_converter(backend)
    result, total = [], _ZERO
    for level_price, raw, count, *own in rows:
        quantity = exact_value(db, raw, ENERGY_PLACES)
        total += quantity
        mine = exact_value(db, own[0], ENERGY_PLACES) if own else _ZERO
        result.append(Level(price(level_price), quantity, int(count), total, mine))
    return result


def _live(now: dt.datetime) -> Any:
    """Not expired at `now` (an active order past its expiry is expired, swept or not)."""
    return EnergyOrder.expires_at.is_null() | (EnergyOrder.expires_at > now)


def _due(now: dt.datetime) -> Any:
    """Active but past its expiry at `now`: expired, not yet swept."""
    return ORDER_IS_ACTIVE & EnergyOrder.expires_at.is_null(False) & (EnergyOrder.expires_at <= now)


def open_orders(address: str) -> list[OrderView]:
    """Newest first, not expired now (swept or not), read as tuples
    (`reads.open_orders_raw`): the order book screen reads them on every refresh, and
    model instances cost several times the query."""
    return order_views(reads.backend())(reads.open_orders_raw(address, clock.now()))


@functools.cache
def order_views(backend: str) -> reads.Made[OrderView]:
    """The driver's rows of `reads.ORDER_COLUMNS` as OrderViews, each kept by its raw
    row (`reads.Made`, on SQLite only, as `trade_views`): the order book screen reads a
    trader's open orders on every change of the market, mostly as they were, and
    making the views of a hundred of them cost three times reading them (0.6 ms against
    0.2 ms on the realistic market). A view depends on its row alone: whether it is
    still open at now is the statement's."""
    convert = reads.row_converter(reads.order_converters(backend))
    return reads.Made(lambda row: _order_of(convert(row)), keep=backend == "sqlite")


def _order_of(row: list[Any]) -> OrderView:
    """An OrderView of a row of `reads.ORDER_COLUMNS`."""
    oid, trader, side, amount, price, filled, status, tif, created, expires, held = row[:11]
    kind, reason, placed = row[11:]
    return OrderView(
        oid,
        trader,
        side,
        amount,
        price,
        filled,
        status,
        tif,
        created,
        expires,
        held,
        kind or "limit",
        reason,
        placed_seq=int(placed or 0),
    )


def orders(address: str, *, include_closed: bool = False, limit: int = 100) -> list[OrderView]:
    now = clock.now()
    query = EnergyOrder.select().where(EnergyOrder.trader_address == address)
    if not include_closed:
        query = query.where(ORDER_IS_ACTIVE & _live(now))
    query = query.order_by(EnergyOrder.placed_seq.desc()).limit(limit)
    return [OrderView.of(row).as_of(now) for row in query]


@dataclasses.dataclass(frozen=True)
class OpenSummary:
    """A prosumer's open orders at a glance: what cancelling them all would release."""

    count: int
    watt_reserved: Decimal  # held by its open buy orders
    energy_reserved: Decimal  # held by its open sell orders (their remainders)
    # the newest of them (its placed_seq): `cancel_all(up_to_placed_seq=...)` cancels
    # exactly these, not an order placed after the question was asked
    up_to_placed_seq: int = 0


def open_summary(address: str, side: str | None = None) -> OpenSummary:
    """How many open orders `address` has (of `side`, if given) and what they hold."""
    o = EnergyOrder
    # cancel-all expires them
    wanted = ORDER_IS_ACTIVE & (o.trader_address == address) & _live(clock.now())
    if side is not None:
        wanted &= o.order_type == side
    rows = (
        o.select(
            o.order_type,
            fn.COUNT(o.id),
            exact_sum(db, o.watt_reserved, MONEY_PLACES),
            _remaining(),
            fn.MAX(o.placed_seq),
        )
        .where(wanted)
        .group_by(o.order_type)
        .tuples()
    )
    count, watt, energy, newest = 0, Decimal("0.00"), Decimal("0.00"), 0
    for kind, number, held, remaining, last in rows:
        count += number
        newest = max(newest, int(last or 0))
        if kind == "buy":
            watt += exact_value(db, held, MONEY_PLACES)
        else:
            energy += exact_value(db, remaining, ENERGY_PLACES)
    return OpenSummary(count, watt, energy, newest)


HISTORY_STATUSES = {
    "open": ("open", "partially_filled"),
    "filled": ("filled",),
    "cancelled": ("cancelled",),
    "expired": ("expired",),
    "all": None,
}


def order_history(
    address: str,
    *,
    status: str = "all",
    since: dt.datetime | None = None,
    limit: int = 100,
    before_placed: int | None = None,
) -> list[OrderView]:
    """The prosumer's orders, newest first, each with the average price of its fills:
    sum(amount x price) / sum(amount) over its trades, exact, then rounded half-even
    to 4 places (None when nothing filled). `status`: open (partially filled included),
    filled, cancelled, expired or all; `since`: placed at or after; `before_placed`:
    only orders placed before the one with that `placed_seq` (the HTTP API's next page).
    Newest placed first: by `placed_seq`, which an amendment does not renew (seq does)."""
    if status not in HISTORY_STATUSES:
        raise ValidationError(
            f"status {status[:20]!r} is not one of {', '.join(HISTORY_STATUSES)}", field="status"
        )
    now = clock.now()
    query = EnergyOrder.select().where(EnergyOrder.trader_address == address)
    statuses = HISTORY_STATUSES[status]
    if status == "open":  # as of now: one past its expiry is expired, swept or not
        query = query.where(EnergyOrder.status.in_(statuses) & _live(now))
    elif status == "expired":
        query = query.where((EnergyOrder.status == "expired") | _due(now))
    elif statuses is not None:
        query = query.where(EnergyOrder.status.in_(statuses))
    if since is not None:
        query = query.where(EnergyOrder.created_at >= since)
    if before_placed is not None:
        query = query.where(EnergyOrder.placed_seq < before_placed)
    rows = list(query.order_by(EnergyOrder.placed_seq.desc()).limit(limit))
    averages = _average_prices([row.id for row in rows if row.filled_amount > 0])
    return [
        dataclasses.replace(OrderView.of(row).as_of(now), average_price=averages.get(row.id))
        for row in rows
    ]


def order_with_average(order_id: str | uuid.UUID) -> OrderView:
    """One order, with the average price of its fills (as `order_history` sets it)."""
    order = get_order(order_id)
    average = _average_prices([order.id]).get(order.id) if order.filled else None
    return dataclasses.replace(order, average_price=average)


def _average_prices(ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """Each order's volume-weighted fill price, from its trades (exact sums in Python)."""
    volume: dict[uuid.UUID, Decimal] = {}
    notional: dict[uuid.UUID, Decimal] = {}
    t = EnergyTrade
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = t.select(t.buy_order, t.sell_order, t.energy_amount, t.price_per_kwh).where(
            t.buy_order.in_(chunk) | t.sell_order.in_(chunk)
        )
        wanted = set(chunk)
        for row in rows.tuples():
            buy, sell, amount, price = row
            amount = t.energy_amount.python_value(amount)
            price = t.price_per_kwh.python_value(price)
            for oid in (buy, sell):
                if oid in wanted:
                    volume[oid] = volume.get(oid, _ZERO) + amount
                    notional[oid] = notional.get(oid, _ZERO) + amount * price
    return {oid: _vwap(notional[oid], volume[oid]) for oid in volume if volume[oid]}


def _vwap(notional: Decimal, volume: Decimal) -> Decimal:
    """sum(amount x price) / sum(amount), half-even to the price's places."""
    return round_price(notional / volume)


def placed_with_average(result: PlaceResult) -> OrderView:
    """A new order as `place_order` returned it, with the average price of the fills
    it got (all of its fills: it did not exist before), as `order_with_average` reads
    it back."""
    volume = sum((fill.amount for fill in result.fills), _ZERO)
    if not volume:
        return result.order
    notional = sum((fill.amount * fill.price for fill in result.fills), _ZERO)
    return dataclasses.replace(result.order, average_price=_vwap(notional, volume))


def get_order(order_id: str | uuid.UUID) -> OrderView:
    oid = parse_order_id(order_id)
    row = EnergyOrder.get_or_none(EnergyOrder.id == oid)
    if row is None:
        raise NotFound(f"no order with id {oid}")
    return OrderView.of(row).as_of(clock.now())


@dataclasses.dataclass(frozen=True)
class TradeView:
    id: uuid.UUID
    seq: int
    executed_at: dt.datetime
    amount: Decimal
    price: Decimal
    total: Decimal
    fee: Decimal
    buyer_total: Decimal
    buyer_address: str
    seller_address: str
    taker_side: str | None
    buy_order_id: uuid.UUID | None
    sell_order_id: uuid.UUID | None

    @classmethod
    def of_values(cls, values: Sequence[Any]) -> TradeView:
        """A row of `reads.TRADE_COLUMNS`, its values already made exact, filled in
        directly: the frozen `__init__` sets each of its 13 fields through
        `object.__setattr__`, which cost the tape as much as reading it."""
        view = object.__new__(cls)
        view.__dict__.update(zip(_TRADE_FIELDS, values, strict=True))
        return view

    def side_for(self, address: str) -> str | None:
        if address == self.buyer_address:
            return "buy"
        return "sell" if address == self.seller_address else None

    @classmethod
    def of(cls, t: EnergyTrade) -> TradeView:
        return cls(
            t.id,
            t.seq,
            t.executed_at,
            t.energy_amount,
            t.price_per_kwh,
            t.total_price,
            t.fee,
            t.buyer_total,
            t.buyer_address,
            t.seller_address,
            t.taker_side,
            t.buy_order_id,
            t.sell_order_id,
        )


@dataclasses.dataclass(frozen=True)
class TradeFilter:
    address: str | None = None  # only this prosumer's trades
    side: str | None = None  # with `address`: only its buys or its sells
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    before_seq: int | None = None  # only trades older than this (a page after the last)


_TRADE_FIELDS = tuple(field.name for field in dataclasses.fields(TradeView))


def trades(spec: TradeFilter = TradeFilter()) -> list[TradeView]:
    """Newest first. A prosumer's trades come from the (buyer_address, seq) and
    (seller_address, seq) indexes, the newest `limit` of each side merged: the time
    does not grow with the market's trades (migration 0010)."""
    rows = reads.trades_raw(
        spec.address, spec.side, spec.since, spec.until, spec.limit, spec.before_seq
    )
    return trade_views(reads.backend())(rows)


@functools.cache
def trade_views(backend: str) -> reads.Made[TradeView]:
    """The driver's trade rows as TradeViews, each kept by its raw row (`reads.Made`):
    the tape and the trades screen read the same trades again on every refresh. On
    SQLite only: PostgreSQL's and MySQL's rows hold Decimals, slower to look up than
    to make a view of (`Made`'s `keep`)."""
    convert = reads.row_converter(reads.trade_converters(backend))
    view = TradeView.of_values
    make = view if convert is reads.same else lambda row: view(convert(row))
    return reads.Made(make, keep=backend == "sqlite")


def order_fills(order_id: str | uuid.UUID) -> list[TradeView]:
    oid = parse_order_id(order_id)
    query = (
        EnergyTrade.select()
        .where((EnergyTrade.buy_order == oid) | (EnergyTrade.sell_order == oid))
        .order_by(EnergyTrade.seq)
    )
    return [TradeView.of(row) for row in query]


def why_not_matched(order: OrderView, book_now: Book | None = None) -> str:
    """A one-line reason a resting order has not (fully) traded yet."""
    if not order.is_open:
        return f"order is {order.status.replace('_', ' ')}"
    current = book_now or book(depth=1)
    if order.side == "buy":
        if current.best_ask is None:
            return "no sell orders on the book"
        return f"best ask {current.best_ask} is above your {order.price}"
    if current.best_bid is None:
        return "no buy orders on the book"
    return f"best bid {current.best_bid} is below your {order.price}"


@dataclasses.dataclass(frozen=True)
class Preview:
    side: str
    amount: Decimal
    price: Decimal
    base_cost: Decimal  # amount x limit price
    fee: Decimal  # grid fee on the base cost (paid by buyers)
    total: Decimal  # what a buy reserves / what a sell would receive at the limit
    grid_cost: Decimal  # the same energy at the utility's tariff
    savings: Decimal  # buy: grid_cost - total; sell: total - grid_cost is not a saving
    fill_now: Decimal  # kWh that would trade at once, against other prosumers' orders
    fill_price: Decimal | None  # average price of that part
    fill_cost: Decimal  # WATT that part would cost (buy, fee included) or earn (sell)
    available: Decimal  # WATT (buy) or kWh (sell) available to the prosumer
    enough: bool
    own_cross: Decimal | None  # price of the prosumer's own order it would cross
    fee_rate: Decimal  # the market's, as the figures above used it
    grid_import_price: Decimal  # the market's tariff behind grid_cost
    worst_price: Decimal | None = None  # the worst level the walk reaches (None: no fill)
    kind: str = "limit"  # limit / market
    cap: Decimal | None = None  # a market order's cap (= price), as given or by default
    cap_note: str = ""  # where a default cap comes from ("" when given)


def preview(
    address: str | None,
    side: str,
    amount: Decimal,
    price: Decimal | None,
    *,
    market: bool = False,
) -> Preview:
    """What an order would cost and fill now under the market's rules (the database's),
    without writing anything. A market order's `price` is its cap; None: the default
    cap (ValidationError when there is none, saying why)."""
    rules = current_rules()
    note = ""
    if price is None:
        if not market:
            raise ValidationError("a limit order needs a price", field="price")
        price, note = default_cap(side, rules, clock.now())
    result = _preview(rules, address, side, amount, price)
    if not market:
        return result
    return dataclasses.replace(result, kind="market", cap=price, cap_note=note)


def _preview(
    rules: MarketRules, address: str | None, side: str, amount: Decimal, price: Decimal
) -> Preview:
    base = rules.trade_total(amount, price)
    fee = rules.fee(base) if side == "buy" else _WATT_ZERO
    total = base + fee
    grid_cost = rules.trade_total(amount, rules.grid_import_price)
    fill_now, fill_cost, notional, worst = _walk(side, amount, price, rules, address)
    # each amount at its column's scale, zero included ("0.00", never "0")
    fill_now, fill_cost = fill_now.quantize(_KWH_ZERO), fill_cost.quantize(_WATT_ZERO)
    available, own = _own_state(address, side, price)
    return Preview(
        side,
        amount,
        price,
        base,
        fee,
        total,
        grid_cost,
        grid_cost - total if side == "buy" else _WATT_ZERO,
        fill_now,
        round_price(notional / fill_now) if fill_now else None,
        fill_cost,
        available,
        (total if side == "buy" else amount) <= available,
        own,
        rules.fee_rate,
        rules.grid_import_price,
        worst,
    )


def _walk(
    side: str, amount: Decimal, price: Decimal, rules: MarketRules, address: str | None
) -> tuple[Decimal, Decimal, Decimal, Decimal | None]:
    """Walk the opposite side's levels while they cross: (kWh, WATT, notional, the
    worst price reached). The prosumer's own orders are left out: the market never
    fills against them."""
    other = "sell" if side == "buy" else "buy"
    filled = cost = notional = _ZERO
    worst = None
    for level in levels(other, depth=500, excluding=address):
        crosses = level.price <= price if side == "buy" else level.price >= price
        if not crosses or filled == amount:
            break
        take = min(level.quantity, amount - filled)
        worst = level.price
        filled += take
        notional += take * level.price
        cost += (
            rules.buyer_cost(take, level.price)
            if side == "buy"
            else rules.trade_total(take, level.price)
        )
    return filled, cost, notional, worst


def _own_state(address: str | None, side: str, price: Decimal) -> tuple[Decimal, Decimal | None]:
    if address is None:
        return _WATT_ZERO, None  # WATT and kWh alike have 2 places
    row = Prosumer.get_or_none(Prosumer.address == address)
    if row is None:
        return _WATT_ZERO, None
    balances = Balances.of(row)
    available = balances.watt_available if side == "buy" else balances.energy_available
    other = "sell" if side == "buy" else "buy"
    limit = EnergyOrder.price_per_kwh
    crosses = limit <= price if side == "buy" else limit >= price
    own = (
        EnergyOrder.select(fn.MIN(limit) if side == "buy" else fn.MAX(limit))
        .where(
            ORDER_IS_ACTIVE
            & (EnergyOrder.trader_address == address)
            & (EnergyOrder.order_type == other)
            & crosses
        )
        .scalar()
    )
    return available, (EnergyOrder.price_per_kwh.python_value(own) if own is not None else None)
