"""The HTTP API's idempotency records: `client_order_id` -> the order it placed, unique
per user (issue 14)."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import ApiClientOrder


def up(database: Database) -> None:
    ensure_table(database, ApiClientOrder)
