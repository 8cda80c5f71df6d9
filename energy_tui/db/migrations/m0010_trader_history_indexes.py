"""Index a prosumer's trades and orders newest first (issue 15): energy_trades by
(buyer_address, seq, executed_at) and (seller_address, seq, executed_at), energy_orders
by (trader_address, is_active, seq), (trader_address, seq, created_at) and
(trader_address, status, seq). "My trades" and "my
orders" then read the newest rows of one prosumer straight from an index, however many
trades the market holds (`services.market.book.trades` and `orders`)."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_indexes
from energy_tui.db.models import EnergyOrder, EnergyTrade


def up(database: Database) -> None:
    ensure_indexes(database, EnergyTrade)
    ensure_indexes(database, EnergyOrder)
