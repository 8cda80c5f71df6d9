"""Placing, matching, settling, cancelling and expiring orders (DESIGN §3).

Every write runs in one transaction under the market lock (the `market_state` row,
locked FOR UPDATE on PostgreSQL/MySQL; SQLite transactions are BEGIN IMMEDIATE).
Inside it, the prosumers touched are loaded once into a `Ledger`, changed in exact
Decimal arithmetic and written back once. The statements are the fixed texts of
`market.sql`, so a placement costs about a dozen cheap statements however many
fills it makes.

On PostgreSQL, placing, cancelling, cancelling all, the sweep (migration 0014) and
amending (0017) run instead as one call of a server function each (`market.server`;
0019 added a market order at a shown cap and a bounded cancel-all, the app's own
calls, and the fat-finger guard's judgement of an unconfirmed amendment), which applies
these same rules; tests/test_pg_function_differential.py holds the two equal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from energy_tui import clock
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES, PRICE_PLACES
from energy_tui.db.ids import new_id
from energy_tui.db.models import ORDER_IS_ACTIVE, ORDER_SIDES, EnergyOrder, Prosumer, db
from energy_tui.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from energy_tui.services import audit, validation
from energy_tui.services.context import Actor
from energy_tui.services.market import candles as buckets
from energy_tui.services.market import limits, server, stats
from energy_tui.services.market.money import MAX_MONEY, MarketRules, band_cap, round_price
from energy_tui.services.market.rules import rules_of
from energy_tui.services.market.sql import (
    accounts_statement,
    as_uuid,
    batch,
    begin_with_first_text,
    dec,
    lock_market,
    pipelined,
    prefetching,
    read_together,
    run,
    statements,
    uid,
    write,
)
from energy_tui.services.market.views import (
    EXPIRED,
    CancelAll,
    Fill,
    OrderView,
    PlaceResult,
    parse_order_id,
)
from energy_tui.services.permissions import Action, allows, require
from energy_tui.services.prosumers import energy_credits

MATCH_BATCH = 8  # makers fetched per round; most orders need one or two
_ZERO = Decimal(0)
_KWH = Decimal(1).scaleb(-ENERGY_PLACES)
_WATT = Decimal(1).scaleb(-MONEY_PLACES)
_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
_EXPIRY_ACTOR = Actor(label="system:expiry", role="admin")
_CANCELLED_ALL = "cancelled with all open orders of its owner"
_IDS_PER_EVENT = 1000  # order ids listed in one audit event of a cancel-all
_UNPAYABLE = (
    "its owner could not pay the rounding cent of its next trade (each trade's price and "
    "fee are rounded to the cent): cancelled by the market"
)


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    side: str
    amount: Decimal
    price: Decimal | None  # the limit; for a market order its cap (None: the default cap)
    time_in_force: str = "gtc"  # gtc / ioc / fok
    expires_at: dt.datetime | None = None  # None: the market's ORDER_TTL_HOURS from placing
    kind: str = "limit"  # limit / market
    # a market order's `price` is the default cap a preview showed and the user confirmed:
    # placed at it, or refused if the market's band has since moved away from it
    shown_cap: bool = False

    @property
    def immediate(self) -> bool:
        """Never rests: IOC, FOK and every market order."""
        return self.time_in_force != "gtc"


@dataclasses.dataclass
class _Order:
    """The fields of an order the matcher needs, as plain values."""

    id: uuid.UUID
    trader: str
    side: str
    amount: Decimal
    price: Decimal
    filled: Decimal
    reserved: Decimal  # WATT still held (buy orders)
    seq: int
    tif: str = "gtc"
    capped: bool = False  # a market buy: spends at most what it holds (amount x cap + fee)
    held_out: bool = False  # a capped buy stopped: the next fill would cost more than that
    dropped: int = 0  # makers cancelled on the way: they could not pay a rounding cent

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> _Order:
        oid, trader, side, amount, price, filled, reserved, seq, tif = row
        return cls(
            as_uuid(oid),
            trader,
            side,
            dec(amount, _KWH),
            dec(price, _PRICE),
            dec(filled, _KWH),
            dec(reserved, _WATT),
            int(seq),
            tif or "gtc",
        )

    @classmethod
    def of_model(cls, row: EnergyOrder) -> _Order:
        """A resting order read as a model row (cancel, amend, cancel-all)."""
        return cls(
            row.id,
            row.trader_address,
            row.order_type,
            row.energy_amount,
            row.price_per_kwh,
            row.filled_amount,
            row.watt_reserved,
            row.seq,
            row.time_in_force,
        )


@dataclasses.dataclass
class _Account:
    address: str
    watt_tokens: Decimal
    watt_reserved: Decimal
    energy_generated: Decimal
    energy_consumed: Decimal
    energy_bought: Decimal
    energy_sold: Decimal
    energy_reserved: Decimal

    @property
    def available_watt(self) -> Decimal:
        return self.watt_tokens - self.watt_reserved

    @property
    def available_energy(self) -> Decimal:
        return energy_credits(self) - self.energy_reserved


@dataclasses.dataclass
class _State:
    """The `market_state` row, held locked for the transaction, with the rules."""

    order_seq: int
    trade_seq: int
    version: int
    open_buys: int
    open_sells: int
    next_expiry: dt.datetime | None = None  # of the active orders, when read
    rules: MarketRules = dataclasses.field(default_factory=MarketRules)

    def count_open(self, side: str, delta: int) -> None:
        if side == "buy":
            self.open_buys += delta
        else:
            self.open_sells += delta


class Ledger:
    """Prosumer balances changed within one transaction, written back once.

    Accounts are keyed by the row's stored address, whatever case an address was asked
    in: the rules name the fee receiver as typed, its own orders as stored (addresses
    are one account in any case, migration 0007). Keyed by the name as asked, one row
    read twice made two accounts, and the later write of one overwrote the other's
    change (a trade or a fee lost, or made twice).
    """

    def __init__(self) -> None:
        self.accounts: dict[str, _Account] = {}  # by the stored address
        self._stored: dict[str, str] = {}  # an address as asked -> as stored

    def get(self, address: str) -> _Account:
        stored = self._stored.get(address)
        if stored is None:
            self._load(run(statements().account, address).fetchone(), address)
            stored = self._stored[address]
        return self.accounts[stored]

    def load_trader(self, address: str, side: str, price: Decimal) -> Decimal | None:
        """Load the trader's account; return the price of its own resting order on the
        other side that an order at `price` would cross, if any."""
        sql, params = _trader_query(address, side, price)
        return self.trader(run(sql, *params).fetchone(), address)

    def load_many(self, addresses: list[str]) -> None:
        """Read the accounts not loaded yet in one statement, locked (the makers an
        order will reach and the fee's receiver), instead of one round trip each; an
        address without a row is left to `get` (and `grid_operator`)."""
        wanted = [a for a in dict.fromkeys(addresses) if a not in self._stored]
        if len(wanted) < 2:
            return
        (rows,) = read_together((accounts_statement(len(wanted)), tuple(wanted)), compact=True)
        by_name = {str(row[0]).lower(): row for row in rows}
        for address in wanted:
            row = by_name.get(address.lower())
            if row is not None:
                self._load(row, address)

    def trader(self, row: tuple[Any, ...] | None, address: str) -> Decimal | None:
        """`load_trader` with the row read already."""
        row = self._load(row, address)
        return dec(row[-1], _PRICE) if row[-1] is not None else None

    def _load(self, row: tuple[Any, ...] | None, address: str) -> tuple[Any, ...]:
        """Take the row read for `address`; an account already held (asked for in
        another case) keeps its balances, changed since that row was read."""
        if row is None:
            raise NotFound(f"no prosumer with address {address!r}")
        stored = str(row[0])
        self._stored[address] = stored
        if stored not in self.accounts:
            self.accounts[stored] = _Account(
                stored,
                *(dec(value, _WATT) for value in row[1:3]),
                *(dec(value, _KWH) for value in row[3:8]),
            )
        return row

    def grid_operator(self, address: str, now: dt.datetime) -> _Account:
        """The fee receiver's account, created on first use."""
        try:
            return self.get(address)
        except NotFound:
            Prosumer.create(
                address=address,
                name="Grid operator",
                kind="grid_operator",
                created_at=now,
                updated_at=now,
            )
            return self.get(address)

    def save(self, now: dt.datetime) -> None:
        sql = statements().save_account
        for a in self.accounts.values():
            write(
                sql,
                a.watt_tokens,
                a.watt_reserved,
                a.energy_bought,
                a.energy_sold,
                a.energy_reserved,
                now,
                a.address,
            )


def _trader_query(address: str, side: str, price: Decimal) -> tuple[str, tuple[Any, ...]]:
    sql = statements().trader_buying if side == "buy" else statements().trader_selling
    other = "sell" if side == "buy" else "buy"
    return sql, (True, other, price, address, address)


def _makers_query(side: str, price: Decimal) -> tuple[str, tuple[Any, ...]]:
    buying = side == "buy"
    sql = statements().asks_up_to if buying else statements().bids_down_to
    return sql, (True, "sell" if buying else "buy", price, MATCH_BATCH)


@dataclasses.dataclass
class _Opening:
    state: _State
    own_price: Decimal | None  # of the trader's own order the new one would cross
    makers: list[_Order] | None  # the first batch; None: `_match` reads it
    statistics: Any = stats.UNREAD  # today's statistics row, when read with the lock
    # the candle buckets of this moment (keys, rows), when read with the lock
    candles: tuple[list[Any], list[tuple[Any, ...]]] | None = None


def _open(address: str, request: OrderRequest, ledger: Ledger, now: dt.datetime) -> _Opening:
    """Lock the market, expire what is due, load the trader (and, on PostgreSQL, read
    the first makers).

    On PostgreSQL and MySQL these (and today's statistics row) are read in one round
    trip; on SQLite the makers wait for `_match`, so that an order refused on the way
    costs no book query. On MySQL the same round trip also reads the candle buckets of
    `now`, which a trade would otherwise read in a round trip of its own under the lock,
    and every row comes as one JSON column (`sql.as_json_rows`). If orders expired,
    balances and the book moved after those reads: the trader is read again and the
    makers are left to `_match` (expiry changes no trade statistics or candles).
    """
    price = _limit(request)
    makers = _makers_query(request.side, price)
    queries = [
        (statements().lock_state, (True,)),
        _trader_query(address, request.side, price),
    ]
    if pipelined():
        queries.append(makers)
        queries.append((statements().stats_row, (now.date(),)))
    keys = buckets.keys_at(now)
    if prefetching():
        queries.append(buckets.load_query(keys))
    locked, trader, *more = read_together(*queries, compact=True)
    state = _state(locked[0])
    today = (more[1][0] if more[1] else None) if more else stats.UNREAD
    candles = (keys, more[2]) if len(more) > 2 else None
    if _expire_due(now, state):
        own_price = ledger.load_trader(address, request.side, price)
        return _Opening(state, own_price, None, today, candles)
    own_price = ledger.trader(trader[0] if trader else None, address)
    first = [_Order.of(row) for row in more[0]] if more else None
    return _Opening(state, own_price, first, today, candles)


def _lock() -> _State:
    return _state(lock_market())


def _state(row: tuple[Any, ...]) -> _State:
    order_seq, trade_seq, version, open_buys, open_sells = (int(value) for value in row[:5])
    return _State(
        order_seq,
        trade_seq,
        version,
        open_buys,
        open_sells,
        next_expiry=_timestamp(row[5]),
        rules=rules_of(row[6:12]),
    )


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))  # SQLite returns the stored text


def _save_state(state: _State, now: dt.datetime) -> None:
    state.version += 1
    write(
        statements().save_state,
        state.order_seq,
        state.trade_seq,
        state.version,
        state.open_buys,
        state.open_sells,
        now,
    )


def place_order(actor: Actor, request: OrderRequest) -> PlaceResult:
    """Reserve, match against the book at the makers' prices, settle, rest or cancel.

    The rules (fee, its receiver, the default lifetime, the minimum value) are the
    database's, read with the market lock: no caller can settle by other rules.
    """
    require(actor, Action.TRADE_OWN, side=request.side)
    address = own_address(actor)
    if request.kind == "limit" and request.price is None:
        raise ValidationError("a limit order needs a price", field="price")
    # PostgreSQL: the same rules, in one call (migrations 0014, 0019)
    if server.available():
        return server.place(
            actor,
            address,
            new_id(),
            request.side,
            request.amount,
            request.price,
            request.time_in_force,
            request.expires_at,
            request.kind,
            clock.now(),
            request.shown_cap,
        )
    # A transaction of its own (not a savepoint in a caller's): its COMMIT can go with
    # the writes, releasing the market lock as they land.
    own_transaction = db.transaction_depth() == 0
    with (
        limits.out_of_range(),
        begin_with_first_text(own_transaction),
        db.atomic(),
        batch(commit=own_transaction),
    ):
        now = clock.now()
        ledger = Ledger()
        cap_note = ""
        if request.price is None:  # a market order without a cap
            request, cap_note = _default_cap(request, now)
        elif request.shown_cap:
            cap_note = _confirmed_cap(request, now)
        price = _limit(request)
        opening = _open(address, request, ledger, now)
        state = opening.state
        rules = state.rules
        check_value(request.amount, price, rules)
        expires_at = _expiry(request, rules, now)
        _refuse_self_cross(request, opening.own_price)
        hold = _reserve(ledger.get(address), request, rules)
        state.order_seq += 1
        order = _Order(
            new_id(),
            address,
            request.side,
            request.amount,
            price,
            _ZERO,
            hold,
            state.order_seq,
            request.time_in_force,
            capped=request.kind == "market" and request.side == "buy",
        )
        fills: list[Fill] = []
        reason = None
        killed = False
        if order.tif == "fok":
            fillable = _fillable_now(order)
            if fillable < order.amount:
                reason = (
                    f"fill or kill: only {fillable.quantize(_KWH)} of {order.amount} kWh could "
                    "fill at once "
                    f"at {_or_better(order)}"
                )
                killed = True
        if not killed:
            fills = _match(order, ledger, state, rules, now, opening.makers)
            if order.tif == "fok" and order.remaining and order.held_out:
                raise ValidationError(
                    f"fill or kill: {order.remaining} of {order.amount} kWh could not fill "
                    f"within the {hold} WATT it holds (amount x cap + fee): each trade pays "
                    "its own fee, rounded up to the cent: nothing was done"
                )
            if order.tif == "fok" and order.remaining:
                raise ValidationError(_fok_dropped(order))
            status = _final_status(order)
            if status in ("filled", "cancelled"):
                _release(order, ledger)
            else:
                state.count_open(order.side, +1)
            if status == "cancelled":
                reason = _cancel_reason(order, request, cap_note, hold)
        else:  # killed: nothing traded, nothing held
            status, order.reserved = "cancelled", _ZERO.quantize(_WATT)
        _insert_order(order, status, expires_at, now, request.kind, reason)
        _write_fills(fills, actor, now)
        if not killed:  # a killed order changed no balance
            ledger.save(now)
        # the open counts: an expiry on the way may have changed them even when killed
        stats.record(
            now.date(),
            fills,
            state.open_buys,
            state.open_sells,
            now,
            opening.statistics,
            opening.candles,
        )
        _save_state(state, now)
        _audit(
            actor,
            now,
            "order_created",
            order_id=str(order.id),
            side=order.side,
            amount=str(order.amount),
            price=str(order.price),
            time_in_force=order.tif,
            status=status,
            fills=len(fills),
            **({"kind": request.kind} if request.kind != "limit" else {}),
            **({"reason": reason} if killed else {}),  # else on the order row only
        )
    view = OrderView(
        order.id,
        address,
        order.side,
        order.amount,
        order.price,
        order.filled,
        status,
        order.tif,
        now,
        expires_at,
        order.reserved,
        request.kind,
        reason,
        placed_seq=order.seq,
    )
    return PlaceResult(view, fills)


def _limit(request: OrderRequest) -> Decimal:
    if request.price is None:  # resolved by `_default_cap` before any use
        raise ValidationError("a limit order needs a price", field="price")
    return request.price


def _or_better(order: _Order) -> str:
    return f"{order.price} or {'less' if order.side == 'buy' else 'more'}"


def _fok_dropped(order: _Order) -> str:
    """Why a FOK sell was refused after the count: makers dropped out on a rounding cent
    (only a buy maker pays, so only a sell meets this; a buy short of a cent is refused
    as InsufficientFunds). Nothing is written, those buy orders included: the same
    order would be refused again while their owners cannot pay."""
    orders = "buy order" if order.dropped == 1 else "buy orders"
    its = "its owner" if order.dropped == 1 else "their owners"
    return (
        f"fill or kill: only {order.filled.quantize(_KWH)} of {order.amount} kWh could fill "
        f"at once at "
        f"{_or_better(order)}: {order.dropped} {orders} on the book counted for the rest, "
        f"but {its} could not pay the rounding cent of the trade (each trade's price and "
        f"fee are rounded to the cent); nothing was done. The same order is refused again "
        f"while {its} cannot pay; an IOC or GTC sell trades what it can (and the market "
        "then cancels such a buy order)"
    )


def _cancel_reason(order: _Order, request: OrderRequest, cap_note: str, hold: Decimal) -> str:
    """Why the unfilled part of an immediate order was cancelled."""
    other = "sell" if order.side == "buy" else "buy"
    left = f"{order.remaining} of {order.amount} kWh"
    if order.held_out:
        return (
            f"market order: {left} not bought: the next trade would have spent more than "
            f"the {hold} WATT it held (amount x cap + fee; each trade pays its own fee, "
            "rounded up to the cent)"
        )
    if request.kind == "market":
        where = "at or below" if order.side == "buy" else "at or above"
        note = f" ({cap_note})" if cap_note else ""
        return f"market order: {left} found no {other} order {where} its cap {order.price}{note}"
    return f"immediate or cancel: {left} did not fill at once at {_or_better(order)}"


def _fillable_now(order: _Order) -> Decimal:
    """How much of `order` the book would fill at once (up to its amount): the crossing
    makers' remainders, read in matching order until there is enough."""
    buying = order.side == "buy"
    sql = statements().asks_remaining if buying else statements().bids_remaining
    cursor = run(sql, True, "sell" if buying else "buy", order.price)
    total = _ZERO
    try:
        while total < order.amount:
            rows = cursor.fetchmany(MATCH_BATCH * 4)
            if not rows:
                break
            total += sum((dec(a, _KWH) - dec(f, _KWH) for a, f in rows), _ZERO)
    finally:
        cursor.close()
    return min(total, order.amount)


def reference_now(now: dt.datetime) -> tuple[Decimal, str] | None:
    """The price a market order's default cap is set around, with its source: the last
    trade, else the mid of the best bid and ask; None when there is neither. Read with
    the SQL of the hot path (callers hold the market lock or only look)."""
    last = run(statements().last_trade_price).fetchone()
    if last is not None:
        return dec(last[0], _PRICE), "last trade"
    bid = run(statements().best_price_desc, True, "buy", now).fetchone()
    ask = run(statements().best_price_asc, True, "sell", now).fetchone()
    if bid is None or ask is None:
        return None
    return round_price((dec(bid[0], _PRICE) + dec(ask[0], _PRICE)) / 2), "mid"


def default_cap(side: str, rules: MarketRules, now: dt.datetime) -> tuple[Decimal, str]:
    """A market order's cap when none was given, and a note of where it comes from:
    the market's price band (PRICE_BAND_PERCENT) around the reference price.
    ValidationError saying why when there is no default (no reference, or the band
    is off): the order then needs a cap."""
    flag = "--max-price" if side == "buy" else "--min-price"
    what = "the most it pays" if side == "buy" else "the least it takes"
    needs = f"a market {side} needs a price cap ({flag}, {what} per kWh)"
    if rules.price_band_percent <= 0:
        raise ValidationError(
            f"{needs}: the market's price band (PRICE_BAND_PERCENT) is 0, so there is no "
            "default cap",
            field="price",
        )
    reference = reference_now(now)
    if reference is None:
        raise ValidationError(
            f"{needs}: there is no last trade and no bid and ask to set a default cap from",
            field="price",
        )
    price, source = reference
    cap = band_cap(side, price, rules.price_band_percent)
    if cap is None:
        raise ValidationError(f"{needs}: the reference price is 0", field="price")
    sign = "+" if side == "buy" else "-"
    band = f"{rules.price_band_percent.normalize():f}%"
    return cap, f"default cap: {source} {price} {sign} the {band} price band"


def _default_cap(request: OrderRequest, now: dt.datetime) -> tuple[OrderRequest, str]:
    """`request` with the default cap, read under the market lock (taken here)."""
    state = _lock()
    cap, note = default_cap(request.side, state.rules, now)
    return dataclasses.replace(request, price=cap), note


def _confirmed_cap(request: OrderRequest, now: dt.datetime) -> str:
    """The note of a default cap the user was shown and confirmed: it is the cap used,
    unless the market's price band (around the reference read now, under the lock) has
    moved so that the cap lies outside it; then ValidationError saying so, nothing done."""
    state = _lock()
    cap = _limit(request)
    _, now_note = default_cap(request.side, state.rules, now)  # refused if there is none now
    reference = reference_now(now)
    assert reference is not None  # default_cap found one
    price, source = reference
    band = state.rules.price_band_percent
    low, high = band_cap("sell", price, band), band_cap("buy", price, band)
    if low is None or high is None or not low <= cap <= high:
        raise ValidationError(
            f"the market moved: the default cap {cap} you confirmed is now outside the "
            f"{band.normalize():f}% price band around the {source} {price} ({low} to {high}): "
            "nothing was placed; look at the new cap and place again",
            field="price",
        )
    return f"the default cap shown when it was confirmed; {now_note.replace('default cap', 'now')}"


def check_value(amount: Decimal, price: Decimal, rules: MarketRules) -> None:
    """Refuse an order worth less than the market's minimum at its own limit."""
    minimum = rules.min_order_value
    if amount * price < minimum:
        raise ValidationError(
            f"{amount} kWh at {price} is worth less than {minimum} WATT, the market's "
            "minimum order value: raise the amount or the price",
            field="amount",
        )


def _expiry(request: OrderRequest, rules: MarketRules, now: dt.datetime) -> dt.datetime | None:
    """The order's expiry: as asked, else the market's default lifetime (an immediate
    order, IOC, FOK or market, never rests, so it has none)."""
    if request.expires_at is not None or request.immediate:
        return request.expires_at
    if not rules.order_ttl_hours:
        return None
    return now + dt.timedelta(hours=rules.order_ttl_hours)


def own_address(actor: Actor) -> str:
    """The prosumer `actor` trades for; ValidationError when the user has none."""
    if not actor.prosumer_address:
        raise ValidationError(
            f"{actor.username or actor.label} is not linked to a prosumer: "
            "an operator can link one with `energy-tui user add --prosumer`"
        )
    return actor.prosumer_address


def _reserve(trader: _Account, request: OrderRequest, rules: MarketRules) -> Decimal:
    """Hold what the order could spend; return the WATT held (0 for a sell)."""
    if request.side == "sell":
        available = trader.available_energy
        if request.amount > available:
            raise InsufficientFunds(
                f"cannot sell {request.amount} kWh: only {available} kWh available "
                f"({trader.energy_reserved} kWh held by open sell orders)",
                field="amount",
            )
        limits.check(trader.energy_reserved + request.amount, limits.OWN_HELD)
        trader.energy_reserved += request.amount
        return _ZERO
    price = _limit(request)
    hold = rules.buyer_cost(request.amount, price)
    if hold > MAX_MONEY:
        raise ValidationError(f"order value {hold} WATT is beyond {MAX_MONEY} WATT", field="amount")
    available = trader.available_watt
    if hold > available:
        raise InsufficientFunds(
            f"buying {request.amount} kWh at {price} needs {hold} WATT "
            f"(grid fee included): only {available} WATT available",
            field="amount",
        )
    trader.watt_reserved += hold
    return hold


def _refuse_self_cross(request: OrderRequest, own_price: Decimal | None) -> None:
    if own_price is not None:
        other = "sell" if request.side == "buy" else "buy"
        raise ValidationError(
            f"this {request.side} at {request.price} would trade with your own {other} order "
            f"at {own_price}: cancel that order first",
            field="price",
        )


def _makers(order: _Order) -> list[_Order]:
    (rows,) = read_together(_makers_query(order.side, order.price), compact=True)
    return [_Order.of(row) for row in rows]


def _match(
    order: _Order,
    ledger: Ledger,
    state: _State,
    rules: MarketRules,
    now: dt.datetime,
    first: list[_Order] | None = None,
) -> list[Fill]:
    """Fill `order` against the book in price-time priority; `first`: the first batch
    of makers, when read already."""
    fills: list[Fill] = []
    while order.remaining > 0:
        makers = first if first is not None else _makers(order)
        first = None
        if not makers:
            break
        ledger.load_many(_reached(order, makers, rules))
        for maker in makers:
            if order.capped and _beyond_hold(order, maker, rules):
                order.held_out = True
                return fills
            try:
                fills.append(_fill(order, maker, ledger, state, rules, now))
            except _Unpayable as short:
                if order.side == "buy":
                    raise InsufficientFunds(
                        f"settling this order needs {short.amount} WATT more than available "
                        "(per-trade rounding): deposit a little more or lower the amount",
                        field="amount",
                    ) from None
                _close_maker(maker, "cancelled", ledger, state, now)
                order.dropped += 1
                continue
            _save_maker(maker, ledger, state, now)
            if order.remaining == 0:
                return fills
    return fills


def _beyond_hold(buy: _Order, maker: _Order, rules: MarketRules) -> bool:
    """Whether filling `buy` against `maker` would cost more than the buy still holds."""
    total = rules.trade_total(min(buy.remaining, maker.remaining), maker.price)
    return total + rules.fee(total) > buy.reserved


def _reached(order: _Order, makers: list[_Order], rules: MarketRules) -> list[str]:
    """The accounts that filling `order` against `makers` will change besides the
    taker's: the makers it reaches, in book order until its remainder is used up, and
    the fee's receiver."""
    addresses, left = [], order.remaining
    for maker in makers:
        if left <= 0:
            break
        addresses.append(maker.trader)
        left -= maker.remaining
    if addresses and rules.fee_rate > 0:
        addresses.append(rules.grid_operator_address)
    return addresses


class _Unpayable(Exception):
    def __init__(self, amount: Decimal) -> None:
        self.amount = amount


def _fill(
    taker: _Order,
    maker: _Order,
    ledger: Ledger,
    state: _State,
    rules: MarketRules,
    now: dt.datetime,
) -> Fill:
    """Settle one fill at the maker's price."""
    buy, sell = (taker, maker) if taker.side == "buy" else (maker, taker)
    amount = min(taker.remaining, maker.remaining)
    total = rules.trade_total(amount, maker.price)
    fee = rules.fee(total)
    buyer, seller = ledger.get(buy.trader), ledger.get(sell.trader)
    own = ledger.get(taker.trader)
    _pay_from_reservation(buy, buyer, amount, total + fee, rules)
    buyer.watt_tokens -= total + fee
    buyer.energy_bought += amount
    # what grows, checked in the order the server function writes it (migration 0031)
    limits.check_account(buyer, own, "energy_bought", limits.OWN_BOUGHT)
    seller.watt_tokens += total
    seller.energy_sold += amount
    seller.energy_reserved -= amount
    limits.check_account(seller, own, "watt_tokens", limits.OWN_WATT)
    limits.check_account(seller, own, "energy_sold", limits.OWN_SOLD)
    sell.filled += amount
    if fee:
        receiver = ledger.grid_operator(rules.grid_operator_address, now)
        receiver.watt_tokens += fee
        limits.check_account(receiver, own, "watt_tokens", limits.OWN_WATT)
    state.trade_seq += 1
    return Fill(
        new_id(),
        buy.id,
        sell.id,
        buy.trader,
        sell.trader,
        amount,
        maker.price,
        total,
        fee,
        total + fee,
        taker.side,
        now,
        state.trade_seq,
    )


def _pay_from_reservation(
    buy: _Order, buyer: _Account, amount: Decimal, cost: Decimal, rules: MarketRules
) -> None:
    """Take `cost` out of the buy order's hold and shrink the hold to what the rest needs.

    Per-fill rounding can make the fills of an order cost a cent or two more than the
    hold computed for the whole; that shortfall comes from the buyer's available WATT.
    """
    remaining_after = buy.remaining - amount
    left = buy.reserved - cost
    if left < 0 and -left > buyer.available_watt:
        raise _Unpayable(-left - buyer.available_watt)
    needed = rules.buyer_cost(remaining_after, buy.price) if remaining_after else _ZERO
    new_hold = max(_ZERO, min(left, needed))
    buyer.watt_reserved += new_hold - buy.reserved
    buy.reserved = new_hold
    buy.filled += amount


def _save_maker(maker: _Order, ledger: Ledger, state: _State, now: dt.datetime) -> None:
    if maker.remaining == 0:
        _close_maker(maker, "filled", ledger, state, now)
    else:
        write(
            statements().save_maker,
            maker.filled,
            maker.reserved,
            now,
            "partially_filled",
            True,
            None,
            maker.id.hex,
        )


def _close_maker(
    maker: _Order, status: str, ledger: Ledger, state: _State, now: dt.datetime
) -> None:
    """A resting order leaves the book: filled, or unable to pay a rounding cent."""
    _release(maker, ledger)
    state.count_open(maker.side, -1)
    reason = _UNPAYABLE if status == "cancelled" else None
    write(statements().save_maker, maker.filled, _ZERO, now, status, False, reason, maker.id.hex)


def _final_status(order: _Order) -> str:
    if order.remaining == 0:
        return "filled"
    if order.tif != "gtc":
        return "cancelled"
    return "partially_filled" if order.filled else "open"


def _release(order: _Order, ledger: Ledger) -> None:
    """Give back everything the order still holds."""
    account = ledger.get(order.trader)
    if order.side == "buy":
        account.watt_reserved -= order.reserved
        order.reserved = _ZERO.quantize(_WATT)  # "0.00", as the column reads back
    else:
        account.energy_reserved -= order.remaining


def _insert_order(
    order: _Order,
    status: str,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    kind: str = "limit",
    reason: str | None = None,
) -> None:
    write(
        statements().insert_order,
        order.id.hex,
        order.trader,
        order.side,
        order.amount,
        order.price,
        status in ("open", "partially_filled"),
        now,
        order.filled,
        status,
        order.tif,
        expires_at,
        now,
        order.reserved,
        order.seq,
        kind,
        reason[:255] if reason else None,
        order.seq,  # placed_seq: its seq now, kept when an amendment renews seq
    )


def _write_fills(fills: list[Fill], actor: Actor, now: dt.datetime) -> None:
    sql = statements().insert_trade
    for f in fills:
        write(
            sql,
            f.id.hex,
            f.buy_order_id.hex,
            f.sell_order_id.hex,
            f.buyer_address,
            f.seller_address,
            f.amount,
            f.price,
            f.total,
            now,
            f.fee,
            f.buyer_total,
            f.taker_side,
            f.seq,
        )
        _audit(
            actor,
            now,
            "order_matched",
            trade_id=str(f.id),
            amount=str(f.amount),
            price=str(f.price),
            buyer=f.buyer_address,
            seller=f.seller_address,
        )


def _audit(actor: Actor, now: dt.datetime, event: str, **data: Any) -> None:
    write(
        statements().insert_audit,
        now,
        event,
        uid(actor.user_id),
        uid(actor.api_key_id),
        actor.ip_address,
        audit.encode(data),
        actor.label[:100],
        "success",
    )


def _expire_due(now: dt.datetime, state: _State) -> int:
    """Expire every active order whose time has come, releasing what it holds."""
    if state.next_expiry is None or state.next_expiry > now:
        return 0
    due = [_Order.of(row) for row in run(statements().due_orders, True, now).fetchall()]
    if not due:
        return 0
    ledger = Ledger()
    for order in due:
        _release(order, ledger)
        state.count_open(order.side, -1)
        write(statements().expire_order, False, now, EXPIRED, order.id.hex)
        _audit(_EXPIRY_ACTOR, now, "order_expired", order_id=str(order.id), trader=order.trader)
    ledger.save(now)
    return len(due)


def sweep_expired() -> int:
    """Expire due orders now (also done at every placement); return how many."""
    if server.available():  # PostgreSQL: in one call (migration 0014)
        return server.sweep(clock.now())
    with db.atomic():
        now = clock.now()
        state = _lock()
        count = _expire_due(now, state)
        if count:
            stats.record(now.date(), (), state.open_buys, state.open_sells, now)
            _save_state(state, now)
    return count


def cancel_order(actor: Actor, order_id: str | uuid.UUID) -> OrderView:
    """Cancel the open remainder of one of the actor's orders and release its hold."""
    require(actor, Action.CANCEL_OWN)
    oid = parse_order_id(order_id)
    owner = EnergyOrder.select(EnergyOrder.trader_address).where(EnergyOrder.id == oid).first()
    if owner is None:
        raise NotFound(f"no order with id {oid}")
    if owner.trader_address != actor.prosumer_address and not allows(
        actor, Action.MANAGE_PROSUMERS
    ):
        audit.record(
            "permission_denied", actor, outcome="denied", action="cancel order", order_id=oid
        )
        raise PermissionDenied(f"order {oid} is not yours to cancel")
    mine = owner.trader_address == actor.prosumer_address
    by = "cancelled by its owner" if mine else f"cancelled by {actor.username or actor.label}"
    if server.available():  # PostgreSQL: in one call (migration 0014)
        return server.cancel(actor, oid, by[:255], clock.now())
    with db.atomic():  # no batch: the model reads below must see every write
        now = clock.now()
        state = _lock()
        _expire_due(now, state)
        row = EnergyOrder.get_by_id(oid)
        if not row.is_active:
            raise ValidationError(
                f"order {oid} is already {row.status.replace('_', ' ')}: "
                "only open orders can be cancelled"
            )
        ledger = Ledger()
        order = _Order.of_model(row)
        _release(order, ledger)
        state.count_open(order.side, -1)
        ledger.save(now)
        row.status, row.is_active, row.watt_reserved, row.updated_at = (
            "cancelled",
            False,
            _ZERO,
            now,
        )
        row.status_reason = by[:255]
        row.save()
        stats.record(now.date(), (), state.open_buys, state.open_sells, now)
        _save_state(state, now)
        audit.record(
            "order_cancelled", actor, order_id=oid, side=row.order_type, remaining=order.remaining
        )
    return OrderView.of(row)


def order_request(
    side: str,
    amount: str | Decimal,
    price: str | Decimal | None,
    rules: MarketRules | None = None,
    *,
    ioc: bool = False,
    fok: bool = False,
    market: bool = False,
    expires: str | None = None,
    now: dt.datetime | None = None,
) -> OrderRequest:
    """Validate what a user typed into an OrderRequest (nothing is written).

    `rules` (the market's, as a screen loaded them) check the minimum value early;
    `place_order` checks again with the database's. Without `expires`, the order gets
    the market's default lifetime when it is placed (an immediate order has none).
    A market order (`market=True`) takes `price` as its cap, optional: None or ""
    means the default cap, set when it is placed. It is IOC unless `fok`.
    """
    now = now or clock.now()
    side = validation.choice(side, "side", ORDER_SIDES)
    if ioc and fok:
        raise ValidationError(
            "choose one of IOC (fill what it can at once, cancel the rest) and FOK (fill "
            "all at once or nothing), not both",
            field="time_in_force",
        )
    quantity = amount_value(amount)
    blank = price is None or (isinstance(price, str) and not price.strip())
    limit = None if market and blank else price_value(price if price is not None else "")
    if rules is not None and limit is not None:
        check_value(quantity, limit, rules)
    expires_at = validation.expiry(expires, now) if expires else None
    tif = "fok" if fok else "ioc" if ioc or market else "gtc"
    return OrderRequest(side, quantity, limit, tif, expires_at, "market" if market else "limit")


@dataclasses.dataclass
class _Amend:
    """An amendment as asked and as it will be."""

    price: Decimal
    amount: Decimal
    loses_priority: bool


def amend_order(
    actor: Actor,
    order_id: str | uuid.UUID,
    *,
    price: str | Decimal | None = None,
    amount: str | Decimal | None = None,
    confirmed: bool = False,
    expected: tuple[Decimal, Decimal] | None = None,
) -> PlaceResult:
    """Change the price and/or amount of one of the actor's resting orders, in one
    transaction under the market lock (DESIGN §3, Amend).

    `expected`: the (price, amount) the caller's view showed. When the order is no
    longer so (amended meanwhile from another terminal), nothing is done: `Conflict`,
    so that a change typed against a stale view never applies to an order the user
    has not seen.

    A smaller amount keeps the order's time priority; a new price or a larger amount
    loses it (the order goes to the back of its new level). A new price that crosses
    the book trades at once, at the makers' prices, like a new order. The hold follows
    exactly. The amount cannot go down to what has filled or below (cancel instead).
    The market's minimum order value applies to the new remainder, and the fat-finger
    guard to a new price or a larger amount: `guard.Unconfirmed` unless `confirmed`.
    """
    require(actor, Action.TRADE_OWN)
    oid = parse_order_id(order_id)
    new_price = None if _blank(price) else price_value(price or "")
    new_amount = None if _blank(amount) else amount_value(amount or "")
    if new_price is None and new_amount is None:
        raise ValidationError("give a new price, a new amount or both", field="price")
    owner = EnergyOrder.select(EnergyOrder.trader_address).where(EnergyOrder.id == oid).first()
    if owner is None:
        raise NotFound(f"no order with id {oid}")
    if owner.trader_address != actor.prosumer_address:
        audit.record(
            "permission_denied", actor, outcome="denied", action="amend order", order_id=oid
        )
        raise PermissionDenied(f"order {oid} is not yours to amend")
    address = owner.trader_address
    if server.available():  # PostgreSQL: in one call (migrations 0017, 0019)
        return server.amend(actor, oid, new_price, new_amount, confirmed, expected, clock.now())
    # no batch: the model reads below must see every write
    with limits.out_of_range(), db.atomic():
        now = clock.now()
        state = _lock()
        _expire_due(now, state)
        row = EnergyOrder.get_by_id(oid)
        if not row.is_active:
            raise ValidationError(
                f"order {oid} is {row.status.replace('_', ' ')}: only open orders can be amended"
            )
        if expected is not None and (row.price_per_kwh, row.energy_amount) != expected:
            raise Conflict(
                f"the order changed since you opened it: it is now "
                f"{row.energy_amount:,.2f} kWh at {row.price_per_kwh:.4f}; look at it again"
            )
        order = _Order.of_model(row)
        change = _amendment(order, new_price, new_amount, state.rules)
        ledger = Ledger()
        if change.price != order.price:
            request = OrderRequest(order.side, change.amount, change.price)
            _refuse_self_cross(request, ledger.load_trader(address, order.side, change.price))
        account = ledger.get(address)
        if change.loses_priority and not confirmed:
            _guard(order, change, account, state.rules)
        old_price, old_amount, old_seq = order.price, order.amount, order.seq
        _rehold(order, change, account, state.rules)
        if change.loses_priority:
            state.order_seq += 1
            order.seq = state.order_seq
        fills: list[Fill] = []
        amended_at = state.trade_seq  # the trades before keep the old limit (invariant 4)
        if order.price != old_price:
            fills = _match(order, ledger, state, state.rules, now)
        status = "filled" if order.remaining == 0 else _final_status(order)
        if status == "filled":
            _release(order, ledger)
            state.count_open(order.side, -1)
        _write_fills(fills, actor, now)
        ledger.save(now)
        row.energy_amount, row.price_per_kwh, row.filled_amount = (
            order.amount,
            order.price,
            order.filled,
        )
        row.watt_reserved, row.seq, row.status = order.reserved, order.seq, status
        row.is_active, row.updated_at = status != "filled", now
        row.save()
        stats.record(now.date(), fills, state.open_buys, state.open_sells, now)
        _save_state(state, now)
        _audit(
            actor,
            now,
            "order_amended",
            order_id=str(order.id),
            side=order.side,
            old_price=str(old_price),
            price=str(order.price),
            old_amount=str(old_amount),
            amount=str(order.amount),
            priority="kept" if order.seq == old_seq else "lost",
            after_trade_seq=amended_at,
            status=status,
            fills=len(fills),
        )
    return PlaceResult(OrderView.of(row), fills)


def _blank(value: str | Decimal | None) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _amendment(
    order: _Order, price: Decimal | None, amount: Decimal | None, rules: MarketRules
) -> _Amend:
    new_price = order.price if price is None else price
    new_amount = order.amount if amount is None else amount
    if (new_price, new_amount) == (order.price, order.amount):
        raise ValidationError(
            f"order {order.id} is already {order.amount} kWh at {order.price}: nothing to change"
        )
    if new_amount <= order.filled:
        raise ValidationError(
            f"the amount cannot go to {new_amount} kWh: {order.filled} kWh of this order have "
            "filled already; to stop the rest, cancel the order",
            field="amount",
        )
    check_value(new_amount - order.filled, new_price, rules)
    return _Amend(new_price, new_amount, new_price != order.price or new_amount > order.amount)


def _guard(order: _Order, change: _Amend, account: _Account, rules: MarketRules) -> None:
    """The fat-finger guard on what the amended order will hold, as for a new order."""
    from energy_tui.services.market import book, guard  # guard imports this module

    if order.side == "buy":
        available = account.available_watt + order.reserved
    else:
        available = account.available_energy + order.remaining
    request = OrderRequest(order.side, change.amount - order.filled, change.price)
    reference = guard.reference_price(book.book(depth=1), rules)
    caution = guard.assess(request, reference, available, rules)
    guard.require_confirmed(caution, False)


def _rehold(order: _Order, change: _Amend, account: _Account, rules: MarketRules) -> None:
    """Set the order's hold to exactly what its amended remainder needs (invariant 5)."""
    remaining = change.amount - order.filled
    if order.side == "sell":
        more = remaining - order.remaining
        if more > account.available_energy:
            raise InsufficientFunds(
                f"selling {more} kWh more needs them available: only "
                f"{account.available_energy} kWh are",
                field="amount",
            )
        limits.check(account.energy_reserved + more, limits.OWN_HELD)
        account.energy_reserved += more
    else:
        hold = rules.buyer_cost(remaining, change.price)
        if not change.loses_priority:
            # a smaller amount at the same price never asks for more than it holds now
            # (per-trade rounding may have left less than a new order would hold)
            hold = min(hold, order.reserved)
        if hold > MAX_MONEY:
            raise ValidationError(
                f"order value {hold} WATT is beyond {MAX_MONEY} WATT", field="amount"
            )
        more = hold - order.reserved
        if more > account.available_watt:
            raise InsufficientFunds(
                f"{remaining} kWh at {change.price} need {hold} WATT held (grid fee "
                f"included), {more} more than now: only {account.available_watt} WATT "
                "available",
                field="amount",
            )
        account.watt_reserved += more
        order.reserved = hold
    order.amount, order.price = change.amount, change.price


def cancel_all(
    actor: Actor, side: str | None = None, up_to_placed_seq: int | None = None
) -> CancelAll:
    """Cancel every open order of the actor's (of one side, if given) in one
    transaction under the market lock, releasing what they hold.

    `up_to_placed_seq` (a question's `OpenSummary.up_to_placed_seq`, or the newest
    `placed_seq` a client listed): only orders placed up to it, those the user saw and
    confirmed; orders placed since (another terminal, the API, a bot) are left open and
    counted in `left_newer`."""
    require(actor, Action.CANCEL_OWN)
    address = own_address(actor)
    if side is not None:
        side = validation.choice(side, "side", ORDER_SIDES)
    # PostgreSQL: in one call (migrations 0014, 0019)
    if server.available():
        return server.cancel_all(actor, address, side, _CANCELLED_ALL, up_to_placed_seq)
    with db.atomic():
        now = clock.now()
        state = _lock()
        expired = _expire_due(now, state)
        wanted = ORDER_IS_ACTIVE & (EnergyOrder.trader_address == address)
        if side is not None:
            wanted &= EnergyOrder.order_type == side
        newer = 0
        if up_to_placed_seq is not None:
            later = EnergyOrder.placed_seq > up_to_placed_seq
            newer = EnergyOrder.select().where(wanted & later).count()
            wanted &= EnergyOrder.placed_seq <= up_to_placed_seq
        rows = list(EnergyOrder.select().where(wanted).order_by(EnergyOrder.seq))
        ledger = Ledger()
        watt, energy = _ZERO.quantize(_WATT), _ZERO.quantize(_KWH)
        for row in rows:
            order = _Order.of_model(row)
            watt += order.reserved
            energy += order.remaining if order.side == "sell" else _ZERO
            _release(order, ledger)
            state.count_open(order.side, -1)
            row.status, row.is_active, row.watt_reserved = "cancelled", False, _ZERO
            row.updated_at, row.status_reason = now, _CANCELLED_ALL
        if rows:
            ledger.save(now)
            EnergyOrder.update(
                status="cancelled",
                is_active=False,
                watt_reserved=_ZERO,
                updated_at=now,
                status_reason=_CANCELLED_ALL,
            ).where(EnergyOrder.id.in_([row.id for row in rows])).execute()
            ids = [str(row.id) for row in rows]
            bounded: dict[str, Any] = {} if up_to_placed_seq is None else {"left_newer": newer}
            # a MySQL/MariaDB TEXT holds 64 KB (about 1,600 ids): very many orders are
            # listed over several events, each saying which part of how many it is
            parts = [ids[i : i + _IDS_PER_EVENT] for i in range(0, len(ids), _IDS_PER_EVENT)]
            for number, part in enumerate(parts, 1):
                audit.record(
                    "order_cancelled",
                    actor,
                    scope="all",
                    side=side or "both",
                    orders=len(rows),
                    order_ids=part,
                    released_watt=str(watt),
                    released_energy=str(energy),
                    **bounded,
                    **({"part": f"{number} of {len(parts)}"} if len(parts) > 1 else {}),
                )
        if rows or expired:
            stats.record(now.date(), (), state.open_buys, state.open_sells, now)
            _save_state(state, now)
    return CancelAll([OrderView.of(row) for row in rows], watt, energy, newer)


def amount_value(raw: str | Decimal) -> Decimal:
    """An order's amount as typed (kWh), alone: for a field checked on its own."""
    return validation.decimal_value(raw, "amount", places=ENERGY_PLACES, max_digits=15, unit="kWh")


def price_value(raw: str | Decimal) -> Decimal:
    """An order's limit price as typed (WATT/kWh), alone."""
    return validation.decimal_value(
        raw, "price", places=PRICE_PLACES, max_digits=10, unit="WATT/kWh"
    )
