"""Placing, matching, settling, cancelling and expiring orders (DESIGN §3).

Every write runs in one transaction under the market lock (`db.locking.lock_market`).
Inside it, the prosumers touched are loaded once into a `Ledger`, changed in exact
Decimal arithmetic, and written back once, so a placement costs a handful of
statements however many fills it makes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from energy_tui import clock
from energy_tui.db.fields import ENERGY_PLACES, PRICE_PLACES
from energy_tui.db.locking import for_update, lock_market
from energy_tui.db.models import (
    ORDER_IS_ACTIVE,
    ORDER_SIDES,
    AuditLog,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    Prosumer,
    db,
)
from energy_tui.errors import InsufficientFunds, NotFound, PermissionDenied, ValidationError
from energy_tui.services import audit, validation
from energy_tui.services.context import Actor
from energy_tui.services.market import stats
from energy_tui.services.market.money import MAX_MONEY, MarketRules
from energy_tui.services.market.views import Fill, OrderView, PlaceResult, parse_order_id
from energy_tui.services.permissions import Action, allows, require

MATCH_BATCH = 32
_ZERO = Decimal(0)


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


class Ledger:
    """Prosumer balances changed within one transaction, written back once."""

    def __init__(self) -> None:
        self.rows: dict[str, Prosumer] = {}

    def get(self, address: str) -> Prosumer:
        if address not in self.rows:
            row = for_update(Prosumer.select().where(Prosumer.address == address)).first()
            if row is None:
                raise NotFound(f"no prosumer with address {address!r}")
            self.rows[address] = row
        return self.rows[address]

    def ensure_grid_operator(self, address: str, now: dt.datetime) -> Prosumer:
        if (
            address not in self.rows
            and not Prosumer.select().where(Prosumer.address == address).exists()
        ):
            Prosumer.create(
                address=address,
                name="Grid operator",
                kind="grid_operator",
                created_at=now,
                updated_at=now,
            )
        return self.get(address)

    def save(self, now: dt.datetime) -> None:
        for row in self.rows.values():
            row.updated_at = now
            row.save(
                only=[
                    Prosumer.watt_tokens,
                    Prosumer.watt_reserved,
                    Prosumer.energy_bought,
                    Prosumer.energy_sold,
                    Prosumer.energy_reserved,
                    Prosumer.updated_at,
                ]
            )


def available_watt(row: Prosumer) -> Decimal:
    return row.watt_tokens - row.watt_reserved


def available_energy(row: Prosumer) -> Decimal:
    credits = row.energy_generated - row.energy_consumed + row.energy_bought - row.energy_sold
    return credits - row.energy_reserved


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    side: str
    amount: Decimal
    price: Decimal
    time_in_force: str = "gtc"
    expires_at: dt.datetime | None = None


def place_order(actor: Actor, request: OrderRequest, rules: MarketRules) -> PlaceResult:
    """Reserve, match against the book at the makers' prices, settle, rest or cancel."""
    require(actor, Action.TRADE_OWN, side=request.side)
    address = _own_address(actor)
    with db.atomic():
        now = clock.now()
        state = lock_market()
        _expire_due(now, state)
        ledger = Ledger()
        trader = ledger.get(address)
        hold = _reserve(trader, request, rules)
        _refuse_self_cross(address, request)
        state.order_seq += 1
        order = _Order(
            uuid.uuid4(),
            address,
            request.side,
            request.amount,
            request.price,
            _ZERO,
            hold,
            state.order_seq,
            request.time_in_force,
        )
        fills = _match(order, ledger, state, rules, now)
        status = _final_status(order)
        if status in ("filled", "cancelled"):
            _release(order, ledger)
        else:
            _count_open(state, order.side, +1)
        EnergyOrder.insert(
            id=order.id,
            trader_address=address,
            order_type=order.side,
            energy_amount=order.amount,
            price_per_kwh=order.price,
            is_active=status in ("open", "partially_filled"),
            created_at=now,
            filled_amount=order.filled,
            status=status,
            time_in_force=order.tif,
            expires_at=request.expires_at,
            updated_at=now,
            watt_reserved=order.reserved,
            seq=order.seq,
        ).execute()
        _write_fills(fills, actor, now)
        ledger.save(now)
        stats.record(now.date(), fills, state)
        _bump(state, now)
        audit.record(
            "order_created",
            actor,
            order_id=order.id,
            side=order.side,
            amount=order.amount,
            price=order.price,
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
        request.expires_at,
        order.reserved,
    )
    return PlaceResult(view, fills)


def _own_address(actor: Actor) -> str:
    if not actor.prosumer_address:
        raise ValidationError(
            f"{actor.username or actor.label} is not linked to a prosumer: "
            "an operator can link one with `energy-tui user add --prosumer`"
        )
    return actor.prosumer_address


def _reserve(trader: Prosumer, request: OrderRequest, rules: MarketRules) -> Decimal:
    """Hold what the order could spend; return the WATT held (0 for a sell)."""
    if request.side == "sell":
        available = available_energy(trader)
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
    available = available_watt(trader)
    if hold > available:
        raise InsufficientFunds(
            f"buying {request.amount} kWh at {request.price} needs {hold} WATT "
            f"(grid fee included): only {available} WATT available",
            field="amount",
        )
    trader.watt_reserved += hold
    return hold


def _refuse_self_cross(address: str, request: OrderRequest) -> None:
    other = "sell" if request.side == "buy" else "buy"
    crosses = (
        EnergyOrder.price_per_kwh <= request.price
        if request.side == "buy"
        else EnergyOrder.price_per_kwh >= request.price
    )
    own = (
        EnergyOrder.select(EnergyOrder.price_per_kwh)
        .where(
            (EnergyOrder.trader_address == address)
            & ORDER_IS_ACTIVE
            & (EnergyOrder.order_type == other)
            & crosses
        )
        .order_by(
            EnergyOrder.price_per_kwh.asc() if other == "sell" else EnergyOrder.price_per_kwh.desc()
        )
        .first()
    )
    if own is not None:
        raise ValidationError(
            f"this {request.side} at {request.price} would trade with your own {other} order "
            f"at {own.price_per_kwh}: cancel that order first",
            field="price",
        )


def _makers(order: _Order) -> list[_Order]:
    other = "sell" if order.side == "buy" else "buy"
    price = EnergyOrder.price_per_kwh
    crosses = price <= order.price if order.side == "buy" else price >= order.price
    query = (
        EnergyOrder.select(
            EnergyOrder.id,
            EnergyOrder.trader_address,
            EnergyOrder.energy_amount,
            EnergyOrder.price_per_kwh,
            EnergyOrder.filled_amount,
            EnergyOrder.watt_reserved,
            EnergyOrder.seq,
            EnergyOrder.time_in_force,
        )
        .where(ORDER_IS_ACTIVE & (EnergyOrder.order_type == other) & crosses)
        .order_by(price.asc() if order.side == "buy" else price.desc(), EnergyOrder.seq.asc())
        .limit(MATCH_BATCH)
    )
    return [
        _Order(
            row.id,
            row.trader_address,
            other,
            row.energy_amount,
            row.price_per_kwh,
            row.filled_amount,
            row.watt_reserved,
            row.seq,
            row.time_in_force,
        )
        for row in query
    ]


def _match(
    order: _Order, ledger: Ledger, state: MarketState, rules: MarketRules, now: dt.datetime
) -> list[Fill]:
    fills: list[Fill] = []
    while order.remaining > 0:
        makers = _makers(order)
        if not makers:
            break
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
                _cancel_unpayable(maker, ledger, state, now)
                continue
            _save_maker(maker, ledger, state, now)
            if order.remaining == 0:
                return fills
    return fills


class _Unpayable(Exception):
    def __init__(self, amount: Decimal) -> None:
        self.amount = amount


def _cancel_unpayable(maker: _Order, ledger: Ledger, state: MarketState, now: dt.datetime) -> None:
    """A resting buy whose owner cannot pay a fill's rounding cent: it leaves the book."""
    _release(maker, ledger)
    _count_open(state, maker.side, -1)
    EnergyOrder.update(
        status="cancelled", is_active=False, watt_reserved=_ZERO, updated_at=now
    ).where(EnergyOrder.id == maker.id).execute()


def _fill(
    taker: _Order,
    maker: _Order,
    ledger: Ledger,
    state: MarketState,
    rules: MarketRules,
    now: dt.datetime,
) -> Fill:
    """Settle one fill at the maker's price."""
    buy, sell = (taker, maker) if taker.side == "buy" else (maker, taker)
    amount = min(taker.remaining, maker.remaining)
    price = maker.price
    total = rules.trade_total(amount, price)
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
        ledger.ensure_grid_operator(rules.grid_operator_address, now).watt_tokens += fee
    state.trade_seq += 1
    return Fill(
        uuid.uuid4(),
        buy.id,
        sell.id,
        buy.trader,
        sell.trader,
        amount,
        price,
        total,
        fee,
        total + fee,
        taker.side,
        now,
        state.trade_seq,
    )


def _pay_from_reservation(
    buy: _Order, buyer: Prosumer, amount: Decimal, cost: Decimal, rules: MarketRules
) -> None:
    """Take `cost` out of the buy order's hold and shrink the hold to what the rest needs.

    Per-fill rounding can make the fills of an order cost a cent or two more than the
    hold computed for the whole; that shortfall comes from the buyer's available WATT.
    """
    remaining_after = buy.remaining - amount
    left = buy.reserved - cost
    if left < 0 and -left > available_watt(buyer):
        raise _Unpayable(-left - available_watt(buyer))
    needed = rules.buyer_cost(remaining_after, buy.price) if remaining_after else _ZERO
    new_hold = max(_ZERO, min(left, needed))
    buyer.watt_reserved += new_hold - buy.reserved
    buy.reserved = new_hold
    buy.filled += amount


def _save_maker(maker: _Order, ledger: Ledger, state: MarketState, now: dt.datetime) -> None:
    done = maker.remaining == 0
    if done:
        _release(maker, ledger)
        _count_open(state, maker.side, -1)
    EnergyOrder.update(
        filled_amount=maker.filled,
        watt_reserved=maker.reserved,
        updated_at=now,
        status="filled" if done else "partially_filled",
        is_active=not done,
    ).where(EnergyOrder.id == maker.id).execute()


def _final_status(order: _Order) -> str:
    if order.remaining == 0:
        return "filled"
    if order.tif == "ioc":
        return "cancelled"
    return "partially_filled" if order.filled else "open"


def _release(order: _Order, ledger: Ledger) -> None:
    """Give back everything the order still holds."""
    row = ledger.get(order.trader)
    if order.side == "buy":
        row.watt_reserved -= order.reserved
        order.reserved = _ZERO
    else:
        row.energy_reserved -= order.remaining


def _count_open(state: MarketState, side: str, delta: int) -> None:
    if side == "buy":
        state.open_buy_orders += delta
    else:
        state.open_sell_orders += delta


def _write_fills(fills: list[Fill], actor: Actor, now: dt.datetime) -> None:
    if not fills:
        return
    EnergyTrade.insert_many(
        [
            {
                "id": f.id,
                "buy_order": f.buy_order_id,
                "sell_order": f.sell_order_id,
                "buyer_address": f.buyer_address,
                "seller_address": f.seller_address,
                "energy_amount": f.amount,
                "price_per_kwh": f.price,
                "total_price": f.total,
                "executed_at": now,
                "fee": f.fee,
                "buyer_total": f.buyer_total,
                "taker_side": f.taker_side,
                "seq": f.seq,
            }
            for f in fills
        ]
    ).execute()
    AuditLog.insert_many(
        [
            _audit_row(
                "order_matched",
                actor,
                now,
                trade_id=str(f.id),
                amount=str(f.amount),
                price=str(f.price),
                buyer=f.buyer_address,
                seller=f.seller_address,
            )
            for f in fills
        ]
    ).execute()


def _audit_row(event: str, actor: Actor, now: dt.datetime, **data: Any) -> dict[str, Any]:
    return {
        "created_at": now,
        "event_type": event,
        "user": actor.user_id,
        "api_key": actor.api_key_id,
        "ip_address": actor.ip_address,
        "actor": actor.label[:100],
        "outcome": "success",
        "event_data": audit.encode(data),
    }


def _bump(state: MarketState, now: dt.datetime) -> None:
    state.version += 1
    state.updated_at = now
    state.save()


def _expire_due(now: dt.datetime, state: MarketState) -> int:
    """Expire every active order whose time has come, releasing what it holds."""
    due = list(
        EnergyOrder.select(
            EnergyOrder.id,
            EnergyOrder.trader_address,
            EnergyOrder.order_type,
            EnergyOrder.energy_amount,
            EnergyOrder.filled_amount,
            EnergyOrder.watt_reserved,
        ).where(ORDER_IS_ACTIVE & (EnergyOrder.expires_at <= now))
    )
    if not due:
        return 0
    ledger = Ledger()
    for row in due:
        order = _Order(
            row.id,
            row.trader_address,
            row.order_type,
            row.energy_amount,
            _ZERO,
            row.filled_amount,
            row.watt_reserved,
            0,
        )
        _release(order, ledger)
        _count_open(state, order.side, -1)
    ledger.save(now)
    ids = [row.id for row in due]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        EnergyOrder.update(
            status="expired", is_active=False, watt_reserved=_ZERO, updated_at=now
        ).where(EnergyOrder.id.in_(chunk)).execute()
    system = Actor(label="system:expiry", role="admin")
    AuditLog.insert_many(
        [
            _audit_row(
                "order_expired", system, now, order_id=str(row.id), trader=row.trader_address
            )
            for row in due
        ]
    ).execute()
    return len(due)


def sweep_expired() -> int:
    """Expire due orders now (also done at every placement); return how many."""
    with db.atomic():
        now = clock.now()
        state = lock_market()
        count = _expire_due(now, state)
        if count:
            stats.touch(now.date(), state)
            _bump(state, now)
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
    with db.atomic():
        now = clock.now()
        state = lock_market()
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
        _count_open(state, order.side, -1)
        ledger.save(now)
        row.status, row.is_active, row.watt_reserved, row.updated_at = (
            "cancelled",
            False,
            _ZERO,
            now,
        )
        row.save()
        stats.touch(now.date(), state)
        _bump(state, now)
        audit.record(
            "order_cancelled", actor, order_id=oid, side=row.order_type, remaining=order.remaining
        )
    return OrderView.of(row)


def order_request(
    side: str,
    amount: str | Decimal,
    price: str | Decimal,
    rules: MarketRules,
    *,
    ioc: bool = False,
    expires: str | None = None,
    now: dt.datetime | None = None,
) -> OrderRequest:
    """Validate what a user typed into an OrderRequest (nothing is written)."""
    now = now or clock.now()
    side = validation.choice(side, "side", ORDER_SIDES)
    quantity = validation.decimal_value(
        amount, "amount", places=ENERGY_PLACES, max_digits=15, unit="kWh"
    )
    limit = validation.decimal_value(
        price, "price", places=PRICE_PLACES, max_digits=10, unit="WATT/kWh"
    )
    if expires:
        expires_at: dt.datetime | None = validation.expiry(expires, now)
    elif rules.order_ttl_hours and not ioc:
        expires_at = now + dt.timedelta(hours=rules.order_ttl_hours)
    else:
        expires_at = None
    return OrderRequest(side, quantity, limit, "ioc" if ioc else "gtc", expires_at)
