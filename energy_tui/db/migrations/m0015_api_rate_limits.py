"""The HTTP API's shared rate limits, and exact `client_order_id`s on MySQL (issue 14).

`api_rate_limits` holds one row per limited name, updated by one atomic upsert per
request, so that `energy-tui api --workers N` (and every host on the same database)
keeps one allowance instead of N. On PostgreSQL the table is UNLOGGED: counters need
no crash safety, and a commit that wrote only an unlogged table does not wait for the
WAL to reach the disk.

`api_client_orders.client_order_id` gets a binary collation on MySQL/MariaDB: under the
database's default case-insensitive collation `abc` and `ABC` were one idempotency key
there and two on SQLite and PostgreSQL. Binary comparison is stricter, so no existing
pair of rows can clash under it.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import ApiRateLimit

EXACT_COLLATION = "utf8mb4_bin"


def up(database: Database) -> None:
    ensure_table(database, ApiRateLimit)
    if backend_of(database) == "postgres":
        # no WAL for it: a request's upsert then commits without waiting for a WAL flush
        # (an fsync: 1-8 ms a request measured here); a crash empties the table, which
        # only refills every bucket
        database.execute_sql("ALTER TABLE api_rate_limits SET UNLOGGED")
    if backend_of(database) == "mysql":
        database.execute_sql(
            "ALTER TABLE api_client_orders MODIFY client_order_id VARCHAR(64) "
            f"CHARACTER SET utf8mb4 COLLATE {EXACT_COLLATION} NOT NULL"
        )
        database.execute_sql(
            "ALTER TABLE api_rate_limits MODIFY name VARCHAR(80) "
            f"CHARACTER SET utf8mb4 COLLATE {EXACT_COLLATION} NOT NULL"
        )
