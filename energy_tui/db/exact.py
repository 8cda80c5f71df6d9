"""Exact SUMs of DECIMAL columns on every backend.

PostgreSQL and MySQL sum NUMERIC/DECIMAL exactly. SQLite has no decimal type and
sums REALs in floating point (ten 0.10 make 0.9999999999999999), so there each
value is scaled to an integer first (`ROUND(x * 10^places)`, exact for the 15
significant digits our columns hold) and SQLite sums 64-bit integers exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from peewee import SQL, Cast, Database, DatabaseProxy, Node, Value, fn

from energy_tui.db.connect import backend_of


def exact_sum(database: Database | DatabaseProxy, expr: Node, places: int) -> Node:
    """A SUM expression of `expr`, to be read back with `exact_value`."""
    if backend_of(database) == "sqlite":
        scaled = fn.ROUND(expr * Value(10**places, converter=False))
        return fn.SUM(Cast(scaled, "INTEGER"))
    return fn.SUM(expr)


def exact_value(database: Database | DatabaseProxy, raw: Any, places: int) -> Decimal:
    """Turn what `exact_sum` returned into a Decimal with `places` decimals."""
    exponent = Decimal(1).scaleb(-places)
    if raw is None:
        return Decimal(0).quantize(exponent)
    if backend_of(database) == "sqlite":
        return Decimal(int(raw)).scaleb(-places).quantize(exponent)
    return Decimal(raw).quantize(exponent)


def exact_sum_product(
    database: Database | DatabaseProxy, a: Node, a_places: int, b: Node, b_places: int
) -> Node:
    """SUM(a * b), exact; read back with `exact_value(..., a_places + b_places)`."""
    if backend_of(database) == "sqlite":
        scaled_a = Cast(fn.ROUND(a * Value(10**a_places, converter=False)), "INTEGER")
        scaled_b = Cast(fn.ROUND(b * Value(10**b_places, converter=False)), "INTEGER")
        return fn.SUM(scaled_a * scaled_b)
    return fn.SUM(a * b)


def day_of(database: Database | DatabaseProxy, timestamp: Node) -> Node:
    """The UTC calendar day of a naive-UTC timestamp column, as 'YYYY-MM-DD' or a date."""
    if backend_of(database) == "postgres":
        return Cast(timestamp, "DATE")
    return fn.DATE(timestamp)


def epoch_bucket(database: Database | DatabaseProxy, timestamp: Node, seconds: int) -> Node:
    """floor(unix time / seconds) of a naive-UTC timestamp column."""
    # Literals, not parameters: PostgreSQL must see the GROUP BY expression as the
    # very same expression as the selected one.
    width = SQL(str(int(seconds)))
    backend = backend_of(database)
    if backend == "sqlite":
        return Cast(fn.strftime(SQL("'%s'"), timestamp), "INTEGER") / width
    if backend == "postgres":
        return fn.FLOOR(fn.date_part(SQL("'epoch'"), timestamp) / width)
    return fn.FLOOR(fn.UNIX_TIMESTAMP(timestamp) / width)
