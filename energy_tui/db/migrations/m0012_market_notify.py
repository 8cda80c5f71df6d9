"""PostgreSQL tells listeners when the market changes (LISTEN/NOTIFY).

A trigger on `market_state` sends a notification on the channel `db.notify.CHANNEL`
(payload: the new version) whenever `version` moves, in the transaction that moves
it: PostgreSQL delivers it at commit, and never for a change rolled back. Every
writer that bumps the change marker (placing, cancelling, expiring, a rule change,
and whatever comes later) notifies without knowing it. Screens listening
(`db.notify.ChangeListener`) refresh within milliseconds instead of on their next
poll. SQLite and MySQL have no NOTIFY: nothing to do there, their screens poll.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.notify import CHANNEL


def up(database: Database) -> None:
    if backend_of(database) != "postgres":
        return
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION energy_tui_market_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"PERFORM pg_notify('{CHANNEL}', NEW.version::text); RETURN NULL; END $$"
    )
    database.execute_sql("DROP TRIGGER IF EXISTS market_state_changed ON market_state")
    database.execute_sql(
        "CREATE TRIGGER market_state_changed AFTER UPDATE ON market_state FOR EACH ROW "
        "WHEN (OLD.version IS DISTINCT FROM NEW.version) "
        "EXECUTE FUNCTION energy_tui_market_changed()"
    )
