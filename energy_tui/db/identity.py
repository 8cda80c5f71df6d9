"""Usernames, emails and prosumer addresses: one account whatever the case.

`alice` and `Alice` are the same name on every backend: the database refuses the
second (migration 0007: a unique index on lower(column) on SQLite and PostgreSQL; on
MySQL/MariaDB the columns' case-insensitive collation makes the plain unique index do
it), and lookups find the one row by any case. Values stay stored as typed.
"""

from __future__ import annotations

from peewee import Expression, Field, fn

from energy_tui.db.connect import backend_of
from energy_tui.db.models import db

# (table, column, unique index made by migration 0007 on SQLite and PostgreSQL)
CASELESS_COLUMNS = (
    ("users", "username", "users_username_lower"),
    ("users", "email", "users_email_lower"),
    ("prosumers", "address", "prosumers_address_lower"),
)


def same_text(field: Field, value: str) -> Expression:
    """`field` equals `value` regardless of case, written so that the column's unique
    index serves it: `lower(col) = lower(?)` matches the expression index; on MySQL the
    collation already ignores case and `col = ?` uses the plain index."""
    if backend_of(db) == "mysql":
        return field == value
    return fn.LOWER(field) == fn.LOWER(value)


def same_name(one: str | None, other: str | None) -> bool:
    """Whether two names typed or stored name the same account (names are ASCII)."""
    return one is not None and other is not None and one.lower() == other.lower()
