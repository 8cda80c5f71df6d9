"""Bring a seed-made database's balances in line with its orders and trades.

The platform's seed schema has no reservations, no bought/sold totals and no arrival
sequence. For rows written before this schema (and only those: on a database made by
energy-tui every value below already agrees, so nothing changes):
- energy_bought / energy_sold are set from the trades where they are still zero;
- orders get a time-priority sequence in the order they were created;
- open sell orders reserve their remaining energy, open buy orders their remaining
  value (amount x price; a fee is drawn from available WATT when they fill); an open
  order its owner cannot cover is cancelled, and the log says which.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from peewee import Database, fn

from energy_tui.db.models import (
    ORDER_IS_ACTIVE,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    Prosumer,
)

log = logging.getLogger(__name__)
CENT = Decimal("0.01")


def up(database: Database) -> None:
    # Orders energy-tui placed have a sequence (1, 2, ...); the seed's have 0.
    seed_open = [
        row.id
        for row in EnergyOrder.select(EnergyOrder.id).where(
            ORDER_IS_ACTIVE & (EnergyOrder.seq == 0)
        )
    ]
    _bought_and_sold()
    _sequence()
    _reserve_open_orders(seed_open)
    _recount()


def _bought_and_sold() -> None:
    bought: dict[str, Decimal] = defaultdict(Decimal)
    sold: dict[str, Decimal] = defaultdict(Decimal)
    for trade in EnergyTrade.select(
        EnergyTrade.buyer_address, EnergyTrade.seller_address, EnergyTrade.energy_amount
    ):
        bought[trade.buyer_address] += trade.energy_amount
        sold[trade.seller_address] += trade.energy_amount
    for row in Prosumer.select():
        changes = {}
        if row.energy_bought == 0 and bought[row.address]:
            changes["energy_bought"] = bought[row.address]
        if row.energy_sold == 0 and sold[row.address]:
            changes["energy_sold"] = sold[row.address]
        if changes:
            Prosumer.update(**changes).where(Prosumer.address == row.address).execute()


def _sequence() -> None:
    """Orders (and trades) without a sequence get one, oldest first, after any others."""
    for model in (EnergyOrder, EnergyTrade):
        stamp = model.created_at if model is EnergyOrder else model.executed_at
        start = model.select(fn.MAX(model.seq)).scalar() or 0
        unsequenced = model.select(model.id).where(model.seq == 0).order_by(stamp, model.id)
        for offset, row in enumerate(unsequenced, start=1):
            model.update(seq=start + offset).where(model.id == row.id).execute()
    MarketState.update(
        order_seq=EnergyOrder.select(fn.MAX(EnergyOrder.seq)).scalar() or 0,
        trade_seq=EnergyTrade.select(fn.MAX(EnergyTrade.seq)).scalar() or 0,
    ).where(MarketState.id == 1).execute()


def _reserve_open_orders(ids: list) -> None:
    accounts = {row.address: row for row in Prosumer.select()}
    for order in EnergyOrder.select().where(EnergyOrder.id.in_(ids)).order_by(EnergyOrder.seq):
        account = accounts.get(order.trader_address)
        remaining = order.energy_amount - order.filled_amount
        if account is not None and _reserve(account, order, remaining):
            continue
        log.warning(
            "migration: cancelled seed order %s of %s: its owner cannot cover it",
            order.id,
            order.trader_address,
        )
        EnergyOrder.update(status="cancelled", is_active=False).where(
            EnergyOrder.id == order.id
        ).execute()
    for account in accounts.values():
        account.save(only=[Prosumer.watt_reserved, Prosumer.energy_reserved])


def _reserve(account: Prosumer, order: EnergyOrder, remaining: Decimal) -> bool:
    if order.order_type == "sell":
        credits = (
            account.energy_generated
            - account.energy_consumed
            + account.energy_bought
            - account.energy_sold
        )
        if remaining > credits - account.energy_reserved:
            return False
        account.energy_reserved += remaining
        return True
    value = (remaining * order.price_per_kwh).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if value > account.watt_tokens - account.watt_reserved:
        return False
    account.watt_reserved += value
    EnergyOrder.update(watt_reserved=value).where(EnergyOrder.id == order.id).execute()
    return True


def _recount() -> None:
    counts = dict(
        EnergyOrder.select(EnergyOrder.order_type, fn.COUNT(EnergyOrder.id))
        .where(ORDER_IS_ACTIVE)
        .group_by(EnergyOrder.order_type)
        .tuples()
    )
    MarketState.update(
        open_buy_orders=counts.get("buy", 0), open_sell_orders=counts.get("sell", 0)
    ).where(MarketState.id == 1).execute()
