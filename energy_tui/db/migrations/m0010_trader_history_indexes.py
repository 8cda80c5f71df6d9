"""Index a prosumer's trades and orders newest first (issue 15).

energy_trades by (buyer_address, seq, executed_at) and (seller_address, seq,
executed_at), which replace the single-column indexes on buyer_address and
seller_address (their prefixes: every trade would otherwise maintain both); energy_orders
by (trader_address, placed_seq) and (trader_address, status, placed_seq) (placed_seq:
migration 0008). "My trades" and "my orders" (all, or by status) then read the newest
rows of one prosumer straight from an index, however many trades the market holds
(`services.market.book.trades`, `orders`, `order_history`).
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations.schema import ensure_indexes
from energy_tui.db.models import EnergyOrder, EnergyTrade

REPLACED = ("energy_trades_buyer_address", "energy_trades_seller_address")


def up(database: Database) -> None:
    ensure_indexes(database, EnergyTrade)
    ensure_indexes(database, EnergyOrder)
    present = {index.name for index in database.get_indexes("energy_trades")}
    on_table = " ON energy_trades" if backend_of(database) == "mysql" else ""
    for name in REPLACED:
        if name in present:
            database.execute_sql(f"DROP INDEX {name}{on_table}")
