"""Row locks that work on every backend."""

from __future__ import annotations

from peewee import ModelSelect

from energy_tui.db.connect import backend_of
from energy_tui.db.models import MarketState, db


def for_update(query: ModelSelect) -> ModelSelect:
    """Lock the selected rows until the transaction ends.

    SQLite has no row locks; its transactions are BEGIN IMMEDIATE (one writer at a
    time), so a plain read inside one is already stable.
    """
    return query if backend_of(db) == "sqlite" else query.for_update()


def lock_market() -> MarketState:
    """Take the market lock for the rest of the transaction and return the state row.

    PostgreSQL and MySQL: a row lock on `market_state` (released at commit or
    rollback). SQLite: the transaction is already BEGIN IMMEDIATE.
    """
    row = for_update(MarketState.select().where(MarketState.id == 1)).first()
    if row is None:  # a database migrated before the row existed cannot happen; be safe
        MarketState.insert(id=1).on_conflict_ignore().execute()
        row = for_update(MarketState.select().where(MarketState.id == 1)).first()
    return row
