"""Row locks that work on every backend."""

from __future__ import annotations

from peewee import ModelSelect

from energy_tui.db.connect import backend_of
from energy_tui.db.models import db


def for_update(query: ModelSelect) -> ModelSelect:
    """Lock the selected rows until the transaction ends.

    SQLite has no row locks; its transactions are BEGIN IMMEDIATE (one writer at a
    time), so a plain read inside one is already stable.
    """
    return query if backend_of(db) == "sqlite" else query.for_update()
