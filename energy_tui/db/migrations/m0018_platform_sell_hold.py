"""A sell order the platform's other services insert holds its energy (review).

Migration 0016's trigger queued such an order (seq 0) but reserved nothing: matching
then sold kWh its owner need not have (the fill takes the amount out of
`energy_reserved`, which went below zero), and cancelling or expiring it released kWh
it never held, raising its owner's available energy from nothing. The trigger now
reserves an active sell's open amount from its owner's available energy as a placement
does, and refuses the INSERT when the owner has not that much (or no such prosumer).
A buy inserted naming our `watt_reserved` holds that much from its owner's available
WATT (or is refused) for the same reason: a cancel releases what the order says it
holds. A buy that names none still holds nothing (it pays from what is available when
it trades, or leaves the book). An order no placement would write (an amount or a
price of 0 or below, a fill below 0 or beyond its amount, an active order with nothing
left) is refused: the matcher would trade it backwards. The market lock (`market_state`)
is taken before the owner's row, as placements take them: a platform insert and a
placement serialize without deadlock, and the check reads the owner's latest row. The
trigger keeps its name (`energy_orders_seq`); the rest is 0016's.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from energy_tui.db.connect import backend_of

_REFUSED = "a sell order needs its kWh available to its owner (energy_reserved)"
_BAD = "an order needs an amount and a price above 0 and a fill from 0 to below its amount"
# what no placement writes and the matcher would trade backwards (or release unheld)
_UNTRADABLE = (
    "(NEW.energy_amount <= 0 OR NEW.price_per_kwh <= 0 OR NEW.filled_amount < 0 "
    "OR NEW.watt_reserved < 0 OR NEW.filled_amount > NEW.energy_amount "
    "OR (NEW.is_active AND NEW.filled_amount >= NEW.energy_amount))"
)
_HELD = "a buy order needs its watt_reserved available to its owner (watt_reserved)"
_OPEN_COUNTS = (
    "open_buy_orders = open_buy_orders + {buy}, open_sell_orders = open_sell_orders + {sell}"
)
_AVAILABLE = "energy_generated - energy_consumed + energy_bought - energy_sold - energy_reserved"


def up(database: Database) -> None:
    _TRIGGERS[backend_of(database)](database)


def _postgres(database: Database) -> None:
    counts = _OPEN_COUNTS.format(
        buy="CASE WHEN NEW.is_active AND NEW.order_type = 'buy' THEN 1 ELSE 0 END",
        sell="CASE WHEN NEW.is_active AND NEW.order_type = 'sell' THEN 1 ELSE 0 END",
    )
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION energy_tui_order_seq() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.seq = 0 THEN "
        f"IF {_UNTRADABLE} THEN "
        f"RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = '{_BAD}'; END IF; "
        f"UPDATE market_state SET order_seq = order_seq + 1, version = version + 1, {counts} "
        "WHERE id = 1 RETURNING order_seq INTO NEW.seq; "
        "IF NEW.is_active AND NEW.order_type = 'sell' THEN "
        "UPDATE prosumers SET energy_reserved = energy_reserved "
        "+ (NEW.energy_amount - NEW.filled_amount) "
        "WHERE lower(address) = lower(NEW.trader_address) "
        f"AND {_AVAILABLE} >= NEW.energy_amount - NEW.filled_amount; "
        f"IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = '{_REFUSED}'; "
        "END IF; END IF; "
        "IF NEW.order_type = 'buy' AND NEW.watt_reserved <> 0 THEN "
        "UPDATE prosumers SET watt_reserved = watt_reserved + NEW.watt_reserved "
        "WHERE lower(address) = lower(NEW.trader_address) AND NEW.is_active "
        "AND NEW.watt_reserved > 0 AND watt_tokens - watt_reserved >= NEW.watt_reserved; "
        f"IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = '{_HELD}'; "
        "END IF; END IF; "
        "IF NEW.placed_seq = 0 THEN NEW.placed_seq := NEW.seq; END IF; "
        "END IF; RETURN NEW; END $$"
    )


def _mysql(database: Database) -> None:
    counts = _OPEN_COUNTS.format(
        buy="IF(NEW.is_active AND NEW.order_type = 'buy', 1, 0)",
        sell="IF(NEW.is_active AND NEW.order_type = 'sell', 1, 0)",
    )
    database.execute_sql("DROP TRIGGER IF EXISTS energy_orders_seq")
    database.execute_sql(
        "CREATE TRIGGER energy_orders_seq BEFORE INSERT ON energy_orders FOR EACH ROW "
        "BEGIN IF NEW.seq = 0 THEN "
        f"IF {_UNTRADABLE} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_BAD}'; END IF; "
        f"UPDATE market_state SET order_seq = order_seq + 1, version = version + 1, {counts} "
        "WHERE id = 1; "
        "SET NEW.seq = (SELECT order_seq FROM market_state WHERE id = 1); "
        "IF NEW.is_active AND NEW.order_type = 'sell' THEN "
        "UPDATE prosumers SET energy_reserved = energy_reserved "
        "+ (NEW.energy_amount - NEW.filled_amount) WHERE address = NEW.trader_address; "
        "IF NOT EXISTS (SELECT 1 FROM prosumers WHERE address = NEW.trader_address "
        f"AND {_AVAILABLE} >= 0) THEN "
        f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_REFUSED}'; END IF; "
        "END IF; "
        "IF NEW.order_type = 'buy' AND NEW.watt_reserved <> 0 THEN "
        "UPDATE prosumers SET watt_reserved = watt_reserved + NEW.watt_reserved "
        "WHERE address = NEW.trader_address; "
        "IF NOT (NEW.is_active AND NEW.watt_reserved > 0 AND EXISTS (SELECT 1 FROM prosumers "
        "WHERE address = NEW.trader_address AND watt_tokens - watt_reserved >= 0)) "
        f"THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{_HELD}'; END IF; "
        "END IF; "
        "IF NEW.placed_seq = 0 THEN SET NEW.placed_seq = NEW.seq; END IF; "
        "END IF; END"
    )


def _sqlite(database: Database) -> None:
    counts = _OPEN_COUNTS.format(
        buy="(NEW.is_active AND NEW.order_type = 'buy')",
        sell="(NEW.is_active AND NEW.order_type = 'sell')",
    )
    selling = "NEW.is_active AND NEW.order_type = 'sell'"
    holding = "NEW.order_type = 'buy' AND NEW.watt_reserved <> 0"
    # SQLite keeps these columns as numbers: compare at the columns' 2 places
    database.execute_sql("DROP TRIGGER IF EXISTS energy_orders_seq")
    database.execute_sql(
        "CREATE TRIGGER energy_orders_seq AFTER INSERT ON energy_orders FOR EACH ROW "
        "WHEN NEW.seq = 0 BEGIN "
        f"SELECT RAISE(ABORT, '{_BAD}') WHERE {_UNTRADABLE}; "
        f"SELECT RAISE(ABORT, '{_REFUSED}') WHERE {selling} AND NOT EXISTS "
        "(SELECT 1 FROM prosumers WHERE lower(address) = lower(NEW.trader_address) "
        f"AND round({_AVAILABLE}, 2) >= round(NEW.energy_amount - NEW.filled_amount, 2)); "
        "UPDATE prosumers SET energy_reserved = round(energy_reserved "
        "+ (NEW.energy_amount - NEW.filled_amount), 2) "
        f"WHERE {selling} AND lower(address) = lower(NEW.trader_address); "
        f"SELECT RAISE(ABORT, '{_HELD}') WHERE {holding} AND NOT (NEW.is_active "
        "AND NEW.watt_reserved > 0 AND EXISTS (SELECT 1 FROM prosumers "
        "WHERE lower(address) = lower(NEW.trader_address) "
        "AND round(watt_tokens - watt_reserved, 2) >= round(NEW.watt_reserved, 2))); "
        "UPDATE prosumers SET watt_reserved = round(watt_reserved + NEW.watt_reserved, 2) "
        f"WHERE {holding} AND lower(address) = lower(NEW.trader_address); "
        f"UPDATE market_state SET order_seq = order_seq + 1, version = version + 1, {counts} "
        "WHERE id = 1; "
        "UPDATE energy_orders SET seq = (SELECT order_seq FROM market_state WHERE id = 1), "
        "placed_seq = CASE WHEN NEW.placed_seq = 0 "
        "THEN (SELECT order_seq FROM market_state WHERE id = 1) ELSE NEW.placed_seq END "
        "WHERE rowid = NEW.rowid; END"
    )


_TRIGGERS: dict[str, Callable[[Database], None]] = {
    "postgres": _postgres,
    "mysql": _mysql,
    "sqlite": _sqlite,
}
