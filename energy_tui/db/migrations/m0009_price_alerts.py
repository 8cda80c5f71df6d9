"""Price alerts (issue 12): `price_alerts`, one row per alert a user sets on the last
trade price, with its indexes for the firing check and for one user's alerts."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import PriceAlert


def up(database: Database) -> None:
    ensure_table(database, PriceAlert)
