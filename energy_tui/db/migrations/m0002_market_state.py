"""Market state (lock row, sequences, change marker), trade sequence, exact VWAP notional."""

from __future__ import annotations

from peewee import Database, fn

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import EnergyOrder, EnergyTrade, MarketState, MarketStatistics


def up(database: Database) -> None:
    for model in (MarketState, EnergyOrder, EnergyTrade, MarketStatistics):
        ensure_table(database, model)
    if MarketState.get_or_none(MarketState.id == 1) is None:
        is_open = EnergyOrder.is_active & EnergyOrder.is_active.is_null(False)
        counts = dict(
            EnergyOrder.select(EnergyOrder.order_type, fn.COUNT(EnergyOrder.id))
            .where(is_open)
            .group_by(EnergyOrder.order_type)
            .tuples()
        )
        MarketState.create(
            id=1,
            order_seq=EnergyOrder.select(fn.MAX(EnergyOrder.seq)).scalar() or 0,
            trade_seq=EnergyTrade.select(fn.MAX(EnergyTrade.seq)).scalar() or 0,
            open_buy_orders=counts.get("buy", 0),
            open_sell_orders=counts.get("sell", 0),
        )
