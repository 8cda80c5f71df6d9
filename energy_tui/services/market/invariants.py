"""The six invariants of DESIGN §3, checked over the whole database.

Used by the tests after every random step and by `energy-tui market check`. It reads
every row, so it is a maintenance tool, not something a screen calls.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import defaultdict
from decimal import Decimal

from energy_tui.db.models import (
    AuditLog,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    MeterReading,
    Prosumer,
)
from energy_tui.services.market.money import MarketRules
from energy_tui.services.market.rules import CHANGED_EVENT
from energy_tui.services.prosumers import energy_credits

_ZERO = Decimal(0)


def check() -> list[str]:
    """Every violation found, as a sentence; empty when all six hold."""
    prosumers = list(Prosumer.select())
    orders = {order.id: order for order in EnergyOrder.select()}
    trades = list(EnergyTrade.select())
    problems: list[str] = []
    problems += _conservation(prosumers)
    problems += _no_negative_available(prosumers)
    problems += _orders_agree_with_trades(orders, trades)
    problems += _prices_and_book(orders, trades)
    problems += _settlement(trades)
    problems += _reservations(prosumers, orders)
    problems += _energy_moves(prosumers, trades)
    return problems


def _conservation(prosumers: list[Prosumer]) -> list[str]:
    moved = _ZERO
    for row in AuditLog.select(AuditLog.event_type, AuditLog.event_data).where(
        AuditLog.event_type.in_(["deposit", "withdrawal"]) & (AuditLog.outcome == "success")
    ):
        amount = Decimal(json.loads(row.event_data)["amount"])
        moved += amount if row.event_type == "deposit" else -amount
    watt = sum((p.watt_tokens for p in prosumers), _ZERO)
    metered = sum((r.energy_generated - r.energy_consumed for r in MeterReading.select()), _ZERO)
    credits = sum((energy_credits(p) for p in prosumers), _ZERO)
    problems = []
    if watt != moved:
        problems.append(f"1: WATT total {watt} != deposits - withdrawals {moved}")
    if credits != metered:
        problems.append(f"1: energy credits total {credits} != metered net {metered}")
    return problems


def _no_negative_available(prosumers: list[Prosumer]) -> list[str]:
    """Available WATT never below zero; energy reservations never beyond the credits.

    A net consumer's credits can be negative from its meter alone (the deficit is
    imported from the grid, outside this market); trading never makes them so.
    """
    problems = []
    for p in prosumers:
        if p.watt_reserved < 0 or p.watt_tokens - p.watt_reserved < 0:
            problems.append(f"2: {p.address} WATT {p.watt_tokens} reserved {p.watt_reserved}")
        if p.energy_reserved < 0 or p.energy_reserved > max(energy_credits(p), _ZERO):
            problems.append(
                f"2: {p.address} energy {energy_credits(p)} reserved {p.energy_reserved}"
            )
    return problems


_STATUS_ACTIVE = {
    "open": True,
    "partially_filled": True,
    "filled": False,
    "cancelled": False,
    "expired": False,
}


def _orders_agree_with_trades(orders: dict, trades: list[EnergyTrade]) -> list[str]:
    filled: dict = defaultdict(lambda: _ZERO)
    for t in trades:
        filled[t.buy_order_id] += t.energy_amount
        filled[t.sell_order_id] += t.energy_amount
    problems = []
    for o in orders.values():
        if not _ZERO <= o.filled_amount <= o.energy_amount:
            problems.append(f"3: order {o.id} filled {o.filled_amount} of {o.energy_amount}")
        if o.filled_amount != filled[o.id]:
            problems.append(f"3: order {o.id} filled {o.filled_amount} != trades {filled[o.id]}")
        if _STATUS_ACTIVE.get(o.status) != bool(o.is_active):
            problems.append(f"3: order {o.id} status {o.status} but is_active={o.is_active}")
        full = o.filled_amount == o.energy_amount
        if (o.status == "filled") != full:
            problems.append(f"3: order {o.id} status {o.status} with {o.filled_amount} filled")
        if o.status == "open" and o.filled_amount:
            problems.append(f"3: open order {o.id} has fills")
        if o.status == "partially_filled" and not o.filled_amount:
            problems.append(f"3: partially filled order {o.id} has no fills")
    return problems


def _amended_limits() -> dict:
    """Each amended order's earlier limits: order id -> [(trade seq when amended, the
    limit before)], oldest first, from the audited amendments."""
    found: dict = defaultdict(list)
    rows = AuditLog.select(AuditLog.event_data).where(
        (AuditLog.event_type == "order_amended") & (AuditLog.outcome == "success")
    )
    for row in rows.order_by(AuditLog.id):
        data = json.loads(row.event_data)
        if data.get("old_price") != data.get("price"):
            order_id = uuid.UUID(data["order_id"])
            found[order_id].append((int(data["after_trade_seq"]), Decimal(data["old_price"])))
    return found


def _limit_at(order: EnergyOrder, seq: int, amended: dict) -> Decimal:
    """The limit `order` had when trade `seq` was made (an amendment may have moved it
    since: the first amendment made after that trade kept the limit it had)."""
    for after, old in amended.get(order.id, ()):
        if after >= seq:
            return old
    return order.price_per_kwh


def _prices_and_book(orders: dict, trades: list[EnergyTrade]) -> list[str]:
    problems = []
    amended = _amended_limits()
    for t in trades:
        buy, sell = orders.get(t.buy_order_id), orders.get(t.sell_order_id)
        if buy is None or sell is None:  # another service's trade naming no orders of ours
            continue
        bid, ask = _limit_at(buy, t.seq, amended), _limit_at(sell, t.seq, amended)
        maker = {"buy": ask, "sell": bid}.get(t.taker_side or "")  # unknown on seed rows
        if maker is not None and t.price_per_kwh != maker:
            problems.append(f"4: trade {t.id} at {t.price_per_kwh}, maker limit {maker}")
        if not ask <= t.price_per_kwh <= bid:
            problems.append(f"4: trade {t.id} at {t.price_per_kwh} outside [{ask}, {bid}]")
    bids = [o.price_per_kwh for o in orders.values() if o.is_active and o.order_type == "buy"]
    asks = [o.price_per_kwh for o in orders.values() if o.is_active and o.order_type == "sell"]
    if bids and asks and max(bids) >= min(asks):
        problems.append(f"4: book crossed: best bid {max(bids)} >= best ask {min(asks)}")
    return problems


@dataclasses.dataclass(frozen=True)
class _FeeRates:
    """The fee rate each trade settled under: the stored rate, and its audited changes
    (each effective after the trade sequence it was made at)."""

    from_seq: int  # trades up to this one settled before the rules were the database's
    first: Decimal  # the rate before the first audited change
    changes: list[tuple[int, Decimal]]  # (after trade seq, new rate), oldest first

    def rate_for(self, seq: int) -> Decimal:
        rate = self.first
        for after, new in self.changes:
            if seq > after:
                rate = new
        return rate


def _fee_rates() -> _FeeRates:
    state = MarketState.get_or_none(MarketState.id == 1)
    current = state.grid_fee_rate if state is not None else MarketRules().fee_rate
    rows = AuditLog.select(AuditLog.event_data).where(
        (AuditLog.event_type == CHANGED_EVENT) & (AuditLog.outcome == "success")
    )
    changes = []
    first = None
    for row in rows.order_by(AuditLog.id):
        data = json.loads(row.event_data)
        if data.get("rule") == "GRID_FEE_RATE":
            first = Decimal(data["old"]) if first is None else first
            changes.append((int(data["after_trade_seq"]), Decimal(data["new"])))
    start = state.rules_from_trade_seq if state is not None else 0
    return _FeeRates(start, current if first is None else first, changes)


def _settlement(trades: list[EnergyTrade]) -> list[str]:
    """Each trade settled by the market's rules: total = amount x price (half-even, at
    least a cent), fee = total x the rate then in force rounded UP to the cent, and the
    buyer paid both."""
    rates = _fee_rates()
    problems = []
    for t in trades:
        if t.seq <= rates.from_seq:
            continue
        rules = MarketRules(fee_rate=rates.rate_for(t.seq))
        total = rules.trade_total(t.energy_amount, t.price_per_kwh)
        fee = rules.fee(t.total_price)
        if t.total_price != total:
            problems.append(f"4: trade {t.id} total {t.total_price} != amount x price {total}")
        if t.fee != fee:
            problems.append(
                f"4: trade {t.id} fee {t.fee} != {fee} ({rules.fee_rate} of {t.total_price}, "
                "rounded up to the cent)"
            )
        if t.buyer_total != t.total_price + t.fee:
            problems.append(f"4: trade {t.id} buyer total {t.buyer_total} != total + fee")
    return problems


def _reservations(prosumers: list[Prosumer], orders: dict) -> list[str]:
    watt: dict = defaultdict(lambda: _ZERO)
    energy: dict = defaultdict(lambda: _ZERO)
    problems = []
    for o in orders.values():
        if not o.is_active:
            if o.watt_reserved:
                problems.append(f"5: closed order {o.id} still holds {o.watt_reserved} WATT")
            continue
        if o.order_type == "buy":
            watt[o.trader_address] += o.watt_reserved
        else:
            energy[o.trader_address] += o.energy_amount - o.filled_amount
    for p in prosumers:
        if p.watt_reserved != watt[p.address]:
            problems.append(
                f"5: {p.address} watt_reserved {p.watt_reserved} != orders {watt[p.address]}"
            )
        if p.energy_reserved != energy[p.address]:
            problems.append(
                f"5: {p.address} energy_reserved {p.energy_reserved} != orders {energy[p.address]}"
            )
    return problems


def _energy_moves(prosumers: list[Prosumer], trades: list[EnergyTrade]) -> list[str]:
    bought = sum((p.energy_bought for p in prosumers), _ZERO)
    sold = sum((p.energy_sold for p in prosumers), _ZERO)
    traded = sum((t.energy_amount for t in trades), _ZERO)
    if bought == sold == traded:
        return []
    return [f"6: bought {bought}, sold {sold}, traded {traded}"]
