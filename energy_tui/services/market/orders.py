"""Placing, matching, settling, cancelling and expiring orders (DESIGN §3).

Every write runs in one transaction under the market lock (the `market_state` row,
locked FOR UPDATE on PostgreSQL/MySQL; SQLite transactions are BEGIN IMMEDIATE).
Inside it, the prosumers touched are loaded once into a `Ledger`, changed in exact
Decimal arithmetic and written back once. The statements are the fixed texts of
`market.sql`, so a placement costs about a dozen cheap statements however many
fills it makes.
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
from energy_tui.db.models import ORDER_SIDES, EnergyOrder, Prosumer, db
from energy_tui.errors import InsufficientFunds, NotFound, PermissionDenied, ValidationError
from energy_tui.services import audit, validation
from energy_tui.services.context import Actor
from energy_tui.services.market import stats
from energy_tui.services.market.money import MAX_MONEY, MarketRules
from energy_tui.services.market.rules import rules_of
from energy_tui.services.market.sql import (
    accounts_statement,
    as_uuid,
    batch,
    dec,
    lock_market,
    pipelined,
    read_together,
    run,
    statements,
    uid,
    write,
)
from energy_tui.services.market.views import Fill, OrderView, PlaceResult, parse_order_id
from energy_tui.services.permissions import Action, allows, require
from energy_tui.services.prosumers import energy_credits

MATCH_BATCH = 8  # makers fetched per round; most orders need one or two
_ZERO = Decimal(0)
_KWH = Decimal(1).scaleb(-ENERGY_PLACES)
_WATT = Decimal(1).scaleb(-MONEY_PLACES)
_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
_EXPIRY_ACTOR = Actor(label="system:expiry", role="admin")


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    side: str
    amount: Decimal
    price: Decimal
    time_in_force: str = "gtc"
    expires_at: dt.datetime | None = None  # None: the market's ORDER_TTL_HOURS from placing


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
    """Prosumer balances changed within one transaction, written back once."""

    def __init__(self) -> None:
        self.accounts: dict[str, _Account] = {}

    def get(self, address: str) -> _Account:
        if address not in self.accounts:
            self._load(run(statements().account, address).fetchone(), address)
        return self.accounts[address]

    def load_trader(self, address: str, side: str, price: Decimal) -> Decimal | None:
        """Load the trader's account; return the price of its own resting order on the
        other side that an order at `price` would cross, if any."""
        sql, params = _trader_query(address, side, price)
        return self.trader(run(sql, *params).fetchone(), address)

    def load_many(self, addresses: list[str]) -> None:
        """Read the accounts not loaded yet in one statement, locked (the makers an
        order will reach and the fee's receiver), instead of one round trip each; an
        address without a row is left to `get` (and `grid_operator`)."""
        wanted = [a for a in dict.fromkeys(addresses) if a not in self.accounts]
        if len(wanted) < 2:
            return
        rows = run(accounts_statement(len(wanted)), *wanted).fetchall()
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
        if row is None:
            raise NotFound(f"no prosumer with address {address!r}")
        self.accounts[address] = _Account(
            row[0],
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


def _open(address: str, request: OrderRequest, ledger: Ledger, now: dt.datetime) -> _Opening:
    """Lock the market, expire what is due, load the trader (and, on PostgreSQL, read
    the first makers).

    On PostgreSQL and MySQL these (and today's statistics row) are read in one round
    trip; on SQLite the makers wait for `_match`, so that an order refused on the way
    costs no book query. If orders expired, balances and the book moved after those
    reads: the trader is read again and the makers are left to `_match` (expiry
    changes no trade statistics).
    """
    queries = [
        (statements().lock_state, (True,)),
        _trader_query(address, request.side, request.price),
    ]
    if pipelined():
        queries.append(_makers_query(request.side, request.price))
        queries.append((statements().stats_row, (now.date(),)))
    locked, trader, *more = read_together(*queries)
    state = _state(locked[0])
    today = (more[1][0] if more[1] else None) if more else stats.UNREAD
    if _expire_due(now, state):
        own_price = ledger.load_trader(address, request.side, request.price)
        return _Opening(state, own_price, None, today)
    own_price = ledger.trader(trader[0] if trader else None, address)
    first = [_Order.of(row) for row in more[0]] if more else None
    return _Opening(state, own_price, first, today)


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
    with db.atomic(), batch(commit=True):  # COMMIT with the writes: nothing after
        now = clock.now()
        ledger = Ledger()
        opening = _open(address, request, ledger, now)
        state = opening.state
        rules = state.rules
        check_value(request.amount, request.price, rules)
        expires_at = _expiry(request, rules, now)
        _refuse_self_cross(request, opening.own_price)
        hold = _reserve(ledger.get(address), request, rules)
        state.order_seq += 1
        order = _Order(
            new_id(),
            address,
            request.side,
            request.amount,
            request.price,
            _ZERO,
            hold,
            state.order_seq,
            request.time_in_force,
        )
        fills = _match(order, ledger, state, rules, now, opening.makers)
        status = _final_status(order)
        if status in ("filled", "cancelled"):
            _release(order, ledger)
        else:
            state.count_open(order.side, +1)
        _insert_order(order, status, expires_at, now)
        _write_fills(fills, actor, now)
        ledger.save(now)
        stats.record(now.date(), fills, state.open_buys, state.open_sells, now, opening.statistics)
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
    )
    return PlaceResult(view, fills)


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
    """The order's expiry: as asked, else the market's default lifetime (an IOC order
    never rests, so it has none)."""
    if request.expires_at is not None or request.time_in_force == "ioc":
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
        trader.energy_reserved += request.amount
        return _ZERO
    hold = rules.buyer_cost(request.amount, request.price)
    if hold > MAX_MONEY:
        raise ValidationError(f"order value {hold} WATT is beyond {MAX_MONEY} WATT", field="amount")
    available = trader.available_watt
    if hold > available:
        raise InsufficientFunds(
            f"buying {request.amount} kWh at {request.price} needs {hold} WATT "
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
    sql, params = _makers_query(order.side, order.price)
    return [_Order.of(row) for row in run(sql, *params).fetchall()]


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
                continue
            _save_maker(maker, ledger, state, now)
            if order.remaining == 0:
                return fills
    return fills


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
    _pay_from_reservation(buy, buyer, amount, total + fee, rules)
    buyer.watt_tokens -= total + fee
    buyer.energy_bought += amount
    seller.watt_tokens += total
    seller.energy_sold += amount
    seller.energy_reserved -= amount
    sell.filled += amount
    if fee:
        ledger.grid_operator(rules.grid_operator_address, now).watt_tokens += fee
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
            maker.id.hex,
        )


def _close_maker(
    maker: _Order, status: str, ledger: Ledger, state: _State, now: dt.datetime
) -> None:
    """A resting order leaves the book: filled, or unable to pay a rounding cent."""
    _release(maker, ledger)
    state.count_open(maker.side, -1)
    write(statements().save_maker, maker.filled, _ZERO, now, status, False, maker.id.hex)


def _final_status(order: _Order) -> str:
    if order.remaining == 0:
        return "filled"
    if order.tif == "ioc":
        return "cancelled"
    return "partially_filled" if order.filled else "open"


def _release(order: _Order, ledger: Ledger) -> None:
    """Give back everything the order still holds."""
    account = ledger.get(order.trader)
    if order.side == "buy":
        account.watt_reserved -= order.reserved
        order.reserved = _ZERO
    else:
        account.energy_reserved -= order.remaining


def _insert_order(
    order: _Order, status: str, expires_at: dt.datetime | None, now: dt.datetime
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
        write(statements().expire_order, False, now, order.id.hex)
        _audit(_EXPIRY_ACTOR, now, "order_expired", order_id=str(order.id), trader=order.trader)
    ledger.save(now)
    return len(due)


def sweep_expired() -> int:
    """Expire due orders now (also done at every placement); return how many."""
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
        order = _Order(
            row.id,
            row.trader_address,
            row.order_type,
            row.energy_amount,
            row.price_per_kwh,
            row.filled_amount,
            row.watt_reserved,
            row.seq,
        )
        _release(order, ledger)
        state.count_open(order.side, -1)
        ledger.save(now)
        row.status, row.is_active, row.watt_reserved, row.updated_at = (
            "cancelled",
            False,
            _ZERO,
            now,
        )
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
    price: str | Decimal,
    rules: MarketRules | None = None,
    *,
    ioc: bool = False,
    expires: str | None = None,
    now: dt.datetime | None = None,
) -> OrderRequest:
    """Validate what a user typed into an OrderRequest (nothing is written).

    `rules` (the market's, as a screen loaded them) check the minimum value early;
    `place_order` checks again with the database's. Without `expires`, the order gets
    the market's default lifetime when it is placed.
    """
    now = now or clock.now()
    side = validation.choice(side, "side", ORDER_SIDES)
    quantity, limit = amount_value(amount), price_value(price)
    if rules is not None:
        check_value(quantity, limit, rules)
    expires_at = validation.expiry(expires, now) if expires else None
    return OrderRequest(side, quantity, limit, "ioc" if ioc else "gtc", expires_at)


def amount_value(raw: str | Decimal) -> Decimal:
    """An order's amount as typed (kWh), alone: for a field checked on its own."""
    return validation.decimal_value(raw, "amount", places=ENERGY_PLACES, max_digits=15, unit="kWh")


def price_value(raw: str | Decimal) -> Decimal:
    """An order's limit price as typed (WATT/kWh), alone."""
    return validation.decimal_value(
        raw, "price", places=PRICE_PLACES, max_digits=10, unit="WATT/kWh"
    )
