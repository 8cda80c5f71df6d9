"""Baseline: every table of DESIGN §2, created or completed.

On a database made with the seed note's SQL the seven seed tables exist already:
they keep their rows and gain our columns. Orders then get `filled_amount` and
`status` from the trades that reference them.
"""

from __future__ import annotations

import logging

from peewee import Database

from energy_tui.db.exact import exact_sum, exact_value
from energy_tui.db.fields import ENERGY_PLACES
from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import MODELS, EnergyOrder, EnergyTrade

log = logging.getLogger(__name__)


def up(database: Database) -> None:
    added: dict[str, list[str]] = {}
    for model in MODELS:
        columns = ensure_table(database, model)
        if columns:
            added[model._meta.table_name] = columns
    if "filled_amount" in added.get("energy_orders", []):
        _backfill_orders(database)
    if added:
        log.info("baseline migration completed existing tables: %s", added)


def _backfill_orders(database: Database) -> None:
    """Derive the fill state of orders that existed before this schema."""
    for side, field in (("buy", EnergyTrade.buy_order), ("sell", EnergyTrade.sell_order)):
        total = exact_sum(database, EnergyTrade.energy_amount, ENERGY_PLACES)
        rows = (
            EnergyTrade.select(field.alias("order_id"), total.alias("filled"))
            .where(field.is_null(False))
            .group_by(field)
            .tuples()
        )
        for order_id, raw in rows:
            filled = exact_value(database, raw, ENERGY_PLACES)
            EnergyOrder.update(filled_amount=filled).where(
                (EnergyOrder.id == order_id) & (EnergyOrder.order_type == side)
            ).execute()
    remaining = EnergyOrder.energy_amount > EnergyOrder.filled_amount
    EnergyOrder.update(status="filled", is_active=False).where(~remaining).execute()
    active = EnergyOrder.is_active.is_null(False) & EnergyOrder.is_active
    EnergyOrder.update(status="cancelled", is_active=False).where(remaining & ~active).execute()
    EnergyOrder.update(status="partially_filled").where(
        remaining & active & (EnergyOrder.filled_amount > 0)
    ).execute()
