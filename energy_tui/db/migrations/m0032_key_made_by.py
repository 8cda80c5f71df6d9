"""`api_keys.made_by_key_id`: the key that made a key, so that revoking a key revokes
the keys made with it (and theirs). NULL for a key made by a login session or the
local operator, and for every key made before this step: nobody recorded its maker
then (the audit log's `api_key_generated` rows name the key that acted).

Safe on a database that has it already (a baseline run with today's models adds it):
only a missing column, and its index and foreign key, are added.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.migrations.schema import ensure_table
from energy_tui.db.models import ApiKey


def up(database: Database) -> None:
    ensure_table(database, ApiKey)
