"""The audit log's per-database secret: failed logins for unknown usernames keep an
HMAC of the typed name (groupable, not readable) instead of the text."""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import AuditSecret


def up(database: Database) -> None:
    ensure_table(database, AuditSecret)
