"""Database DEFAULTs for the platform's other services (the seed note's schema).

They insert into the note's tables naming only the note's columns; every NOT NULL
column we added (and, on a database we created, the note's own `id`, `is_active` and
`created_at`, whose defaults Peewee keeps in Python) needs a default in the database
itself, or their INSERTs fail. Each column gets the default the model has, where it
has none yet: the literal ones as they are, a timestamp as the current UTC time, an id
as a new random UUID (in the form the backend stores ours).

`energy_orders.seq` (time priority) and `placed_seq` cannot have a constant default:
an order inserted with seq 0 would jump to the front of its price level. A trigger
gives such a row (seq 0, the column's default, which no placement of ours writes) the
market's next `order_seq`, taken from the `market_state` row every placement locks,
so it queues behind every order placed before it and ahead of every order after, and
counts it among the open orders; its `placed_seq` is that seq unless given. PostgreSQL
and MySQL/MariaDB set it BEFORE INSERT; SQLite cannot change NEW there, so its
trigger writes it AFTER INSERT, in the same statement. Such an order holds nothing
(its owner's balances were not reserved by us): a buy pays from what is available when
it trades, as any order short of a rounding cent does.

A later step that rebuilds `market_state` or `energy_orders` on SQLite (as Peewee's
drop_column there does) must drop `energy_orders_seq` first and make it again
(`_order_sequence`): SQLite checks the triggers naming a table it renames.

SQLite cannot ALTER a column's default: the table's CREATE TABLE text is changed in
`sqlite_schema` (the documented procedure for defaults, which leave the stored rows
as they are), the schema version moved so every connection reads it again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from peewee import BooleanField, Database, Field, Model, UUIDField

from energy_tui.db.connect import backend_of
from energy_tui.db.models import ApiKey, EnergyOrder, EnergyTrade, Prosumer, User
from energy_tui.errors import EnergyError

# the note's tables whose rows the platform's services insert
TABLES: tuple[type[Model], ...] = (User, ApiKey, Prosumer, EnergyOrder, EnergyTrade)
# what the note itself requires (NOT NULL without a default): an INSERT without it is
# refused, never given a made-up value such as an amount or a price of 0
REQUIRED = {
    "users": ("username", "email", "password_hash"),
    "api_keys": ("name", "key_hash"),
    "prosumers": ("address", "name"),
    "energy_orders": ("trader_address", "order_type", "energy_amount", "price_per_kwh"),
    "energy_trades": (
        "buyer_address",
        "seller_address",
        "energy_amount",
        "price_per_kwh",
        "total_price",
    ),
}

_NOW = {
    "postgres": "(now() AT TIME ZONE 'utc')",
    "mysql": "(UTC_TIMESTAMP())",
    "sqlite": "CURRENT_TIMESTAMP",
}
_NEW_ID = {
    "postgres": "gen_random_uuid()",
    "mysql": "(REPLACE(UUID(), '-', ''))",
    "sqlite": "(lower(hex(randomblob(16))))",
}


def up(database: Database) -> None:
    backend = backend_of(database)
    for model in TABLES:
        _defaults(database, backend, model)
    _order_sequence(database, backend)


def _defaults(database: Database, backend: str, model: type[Model]) -> None:
    table = model._meta.table_name
    present = {c.name: c for c in database.get_columns(table)}
    missing = {}
    for field in model._meta.sorted_fields:
        column = present.get(field.column_name)
        if column is None or column.null or column.default is not None:
            continue
        if field.column_name in REQUIRED.get(table, ()):
            continue
        default = _default_sql(field, backend)
        if default is not None:
            missing[field.column_name] = default
    if not missing:
        return
    if backend == "sqlite":
        _sqlite_defaults(database, table, missing)
        return
    for column_name, default in missing.items():
        database.execute_sql(
            f"ALTER TABLE {_quote(backend, table)} ALTER COLUMN {_quote(backend, column_name)} "
            f"SET DEFAULT {default}"
        )


def _default_sql(field: Field, backend: str) -> str | None:
    """The column's default as SQL, from the model's; None: none fits."""
    if isinstance(field, UUIDField):
        return _NEW_ID[backend] if field.primary_key else None
    default: Any = field.default
    if callable(default):
        try:
            default = default()
        except Exception:  # a default that needs its model: none in SQL
            return None
    if isinstance(field, BooleanField) or isinstance(default, bool):
        return ("TRUE" if default else "FALSE") if backend == "postgres" else str(int(default))
    if isinstance(default, dt.datetime):
        return _NOW[backend]
    if isinstance(default, int | Decimal):
        return str(default)
    if isinstance(default, str):
        return "'" + default.replace("'", "''") + "'"
    if isinstance(default, list):  # api_keys.permissions: TEXT[] on PostgreSQL, else text
        items = ",".join(str(item) for item in default)
        return f"ARRAY['{items}']::text[]" if backend == "postgres" else f"'{items}'"
    return None


def _quote(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def _sqlite_defaults(database: Database, table: str, defaults: dict[str, str]) -> None:
    """Add DEFAULTs to the column definitions of `table`'s CREATE TABLE text."""
    row = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    sql = row[0]
    for column, default in defaults.items():
        sql = _with_default(sql, table, column, default)
    version = database.execute_sql("PRAGMA schema_version").fetchone()[0]
    database.execute_sql("PRAGMA writable_schema = ON")
    try:
        database.execute_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table)
        )
        database.execute_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        database.execute_sql("PRAGMA writable_schema = OFF")


def _with_default(sql: str, table: str, column: str, default: str) -> str:
    # a column definition: its quoted name, then anything up to the next top-level comma
    # or the closing parenthesis (types such as DECIMAL(15, 2) hold their own commas)
    pattern = re.compile(rf'("{re.escape(column)}"|`{re.escape(column)}`|\b{re.escape(column)}\b)')
    match = pattern.search(sql, sql.index("("))
    if match is None:
        raise EnergyError(f"cannot migrate: no column {column} in the definition of {table}")
    depth, end = 0, match.end()
    while end < len(sql):
        char = sql[end]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            break
        end += 1
    definition = sql[match.start() : end]
    if re.search(r"\bDEFAULT\b", definition, re.IGNORECASE):
        return sql
    return f"{sql[:end]} DEFAULT {default}{sql[end:]}"


def _order_sequence(database: Database, backend: str) -> None:
    _TRIGGERS[backend](database)


_OPEN_COUNTS = (
    "open_buy_orders = open_buy_orders + {buy}, open_sell_orders = open_sell_orders + {sell}"
)


def _postgres(database: Database) -> None:
    counts = _OPEN_COUNTS.format(
        buy="CASE WHEN NEW.is_active AND NEW.order_type = 'buy' THEN 1 ELSE 0 END",
        sell="CASE WHEN NEW.is_active AND NEW.order_type = 'sell' THEN 1 ELSE 0 END",
    )
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION energy_tui_order_seq() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.seq = 0 THEN "
        f"UPDATE market_state SET order_seq = order_seq + 1, version = version + 1, {counts} "
        "WHERE id = 1 RETURNING order_seq INTO NEW.seq; "
        "IF NEW.placed_seq = 0 THEN NEW.placed_seq := NEW.seq; END IF; "
        "END IF; RETURN NEW; END $$"
    )
    database.execute_sql("DROP TRIGGER IF EXISTS energy_orders_seq ON energy_orders")
    database.execute_sql(
        "CREATE TRIGGER energy_orders_seq BEFORE INSERT ON energy_orders FOR EACH ROW "
        "EXECUTE FUNCTION energy_tui_order_seq()"
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
        f"UPDATE market_state SET order_seq = order_seq + 1, version = version + 1, {counts} "
        "WHERE id = 1; "
        "SET NEW.seq = (SELECT order_seq FROM market_state WHERE id = 1); "
        "IF NEW.placed_seq = 0 THEN SET NEW.placed_seq = NEW.seq; END IF; "
        "END IF; END"
    )


def _sqlite(database: Database) -> None:
    counts = _OPEN_COUNTS.format(
        buy="(NEW.is_active AND NEW.order_type = 'buy')",
        sell="(NEW.is_active AND NEW.order_type = 'sell')",
    )
    database.execute_sql("DROP TRIGGER IF EXISTS energy_orders_seq")
    database.execute_sql(
        "CREATE TRIGGER energy_orders_seq AFTER INSERT ON energy_orders FOR EACH ROW "
        "WHEN NEW.seq = 0 BEGIN "
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
