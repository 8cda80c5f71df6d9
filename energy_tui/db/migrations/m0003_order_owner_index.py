"""Index energy_orders by (trader_address, is_active, order_type, price): a prosumer's
open orders and the self-trade check, without scanning the book."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_indexes
from energy_tui.db.models import EnergyOrder


def up(database: Database) -> None:
    ensure_indexes(database, EnergyOrder)
