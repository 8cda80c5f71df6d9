"""Exact SUMs of DECIMAL columns on every backend.

PostgreSQL and MySQL sum NUMERIC/DECIMAL exactly. SQLite has no decimal type and
sums REALs in floating point (ten 0.10 make 0.9999999999999999), so there each
value is scaled to an integer first (`ROUND(x * 10^places)`, exact for the 15
significant digits our columns hold) and SQLite sums 64-bit integers exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from peewee import Cast, Database, DatabaseProxy, Node, Value, fn

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
