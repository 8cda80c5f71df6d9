"""Being told when the market changes, for screens and streams that show it live.

Every change to the book or the tape moves `book.version()`. On PostgreSQL that move
also sends a notification (migration 0012), and `listener()` gives a `ChangeListener`
whose `wait_for_change(timeout) -> bool` returns as soon as one commits anywhere. On
SQLite and MySQL there is none (`listener()` is None): poll `book.version()`. A
listener never replaces the poll, it only makes it sooner: keep polling (every second
or so) and also read the version whenever `wait_for_change` returns True.
"""

from __future__ import annotations

from energy_tui.db.models import db
from energy_tui.db.notify import ChangeListener

__all__ = ["ChangeListener", "listener"]


def listener() -> ChangeListener | None:
    """A listener on the bound database's market (connecting on its first wait); None
    where the backend has no notifications."""
    return ChangeListener.of(db)
