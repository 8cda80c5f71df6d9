"""A trade the platform's other services insert takes the market's next trade seq.

`energy_trades.seq` orders the tape: the trades list, the ticker's and a market order's
last price, price alerts (which fire on trades after a watermark seq) and the API's
trade cursor all read it. Migration 0016 gave the column a DEFAULT of 0 so the note's
INSERTs succeed, and nothing more: such a trade sorted before every trade of ours,
never counted as the last one, and no alert or stream saw it. As 0016 and 0018 did for
orders, a trigger now gives a row inserted with seq 0 (the default; no settlement of
ours writes it) the market's next `trade_seq`, taken from the `market_state` row every
placement locks, and moves the market's change marker (`version`) so screens and
streams read it. Its `buyer_total`, left at the default 0 by an INSERT naming the note's
columns, becomes what the buyer paid: total_price + fee.

The trigger changes no balance and no statistics: the service that inserts a trade
settles it (as it would without us); `energy-tui stats rebuild` recomputes the day's
statistics from the trades. Trades inserted before this step keep seq 0.

PostgreSQL and MySQL/MariaDB set NEW.seq BEFORE INSERT; SQLite cannot change NEW, so
its trigger writes the row AFTER INSERT, in the same statement. As 0016 says of
`energy_orders_seq`: a later step that rebuilds `market_state` or `energy_trades` on
SQLite must drop `energy_trades_seq` first and make it again (`up`).
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from energy_tui.db.connect import backend_of

_NEXT = "UPDATE market_state SET trade_seq = trade_seq + 1, version = version + 1 WHERE id = 1"
_PAID = "NEW.buyer_total = 0 AND NEW.total_price + NEW.fee > 0"


def up(database: Database) -> None:
    _TRIGGERS[backend_of(database)](database)


def _postgres(database: Database) -> None:
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION energy_tui_trade_seq() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"{_NEXT} RETURNING trade_seq INTO NEW.seq; "
        f"IF {_PAID} THEN NEW.buyer_total := NEW.total_price + NEW.fee; END IF; "
        "RETURN NEW; END $$"
    )
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq ON energy_trades")
    database.execute_sql(
        "CREATE TRIGGER energy_trades_seq BEFORE INSERT ON energy_trades FOR EACH ROW "
        "WHEN (NEW.seq = 0) EXECUTE FUNCTION energy_tui_trade_seq()"
    )


def _mysql(database: Database) -> None:
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq")
    database.execute_sql(
        "CREATE TRIGGER energy_trades_seq BEFORE INSERT ON energy_trades FOR EACH ROW "
        f"BEGIN IF NEW.seq = 0 THEN {_NEXT}; "
        "SET NEW.seq = (SELECT trade_seq FROM market_state WHERE id = 1); "
        f"IF {_PAID} THEN SET NEW.buyer_total = NEW.total_price + NEW.fee; END IF; "
        "END IF; END"
    )


def _sqlite(database: Database) -> None:
    database.execute_sql("DROP TRIGGER IF EXISTS energy_trades_seq")
    # SQLite keeps these columns as numbers: the sum at the column's 2 places
    database.execute_sql(
        "CREATE TRIGGER energy_trades_seq AFTER INSERT ON energy_trades FOR EACH ROW "
        f"WHEN NEW.seq = 0 BEGIN {_NEXT}; "
        "UPDATE energy_trades SET seq = (SELECT trade_seq FROM market_state WHERE id = 1), "
        f"buyer_total = CASE WHEN {_PAID} THEN round(NEW.total_price + NEW.fee, 2) "
        "ELSE NEW.buyer_total END WHERE rowid = NEW.rowid; END"
    )


_TRIGGERS: dict[str, Callable[[Database], None]] = {
    "postgres": _postgres,
    "mysql": _mysql,
    "sqlite": _sqlite,
}
