"""Order kinds and reasons (issue 12): `energy_orders.kind` ('limit' or 'market',
default 'limit' for every order placed before) and `energy_orders.status_reason` (why
an order was cancelled, killed or expired; NULL where nobody recorded one).

Safe on a database that has them already (a baseline run with today's models adds
them too): only missing columns are added.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import EnergyOrder


def up(database: Database) -> None:
    ensure_table(database, EnergyOrder)
