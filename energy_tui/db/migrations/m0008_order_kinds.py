"""Order kinds and reasons (issue 12): `energy_orders.kind` ('limit' or 'market',
default 'limit' for every order placed before) and `energy_orders.status_reason` (why
an order was cancelled, killed or expired; NULL where nobody recorded one). And
`energy_orders.placed_seq`: the order's seq when it was placed, which an amendment that
loses priority does not renew (seq does); "my orders" are newest placed first by it.
Orders placed before get their seq now (the best record of when they were placed:
one amended before this step keeps its renewed seq).

Safe on a database that has them already (a baseline run with today's models adds
them too): only missing columns are added, and only rows without a placement sequence
(0, what adding the column gives them) take their seq.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import EnergyOrder


def up(database: Database) -> None:
    ensure_table(database, EnergyOrder)
    database.execute_sql("UPDATE energy_orders SET placed_seq = seq WHERE placed_seq = 0")
