"""The HTTP API's shared rate limits (issue 14).

`api_rate_limits` holds one row per limited name, updated by one atomic upsert per
request, so that `energy-tui api --workers N` (and every host on the same database)
keeps one allowance instead of N.

The limited names (an address, a credential's hash) compare exactly on MySQL too.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import ApiRateLimit

EXACT_COLLATION = "utf8mb4_bin"


def up(database: Database) -> None:
    ensure_table(database, ApiRateLimit)
    if backend_of(database) == "mysql":
        database.execute_sql(
            "ALTER TABLE api_rate_limits MODIFY name VARCHAR(80) "
            f"CHARACTER SET utf8mb4 COLLATE {EXACT_COLLATION} NOT NULL"
        )
