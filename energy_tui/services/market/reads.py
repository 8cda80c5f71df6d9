"""The screens' hot reads as fixed statements, read as tuples (issue 15).

Composing a Peewee query and building model instances cost several times what the
database spends on these reads (the tape: 1.19 ms against 0.30 ms raw on PostgreSQL).
As for the matcher (`sql.py`), the text is written once per backend and executed
with `execute_sql`; each column is turned into its Python value by one small
function per backend: PostgreSQL and MySQL already return Decimals with the column's
scale and datetimes; SQLite returns REALs and text, made exact here as the models'
fields do (`db.fields.ExactDecimalField`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from energy_tui.db.connect import backend_of
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES, PRICE_PLACES
from energy_tui.db.models import db

TRADE_COLUMNS = (
    "id, seq, executed_at, energy_amount, price_per_kwh, total_price, fee, buyer_total, "
    "buyer_address, seller_address, taker_side, buy_order_id, sell_order_id"
)
Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


same = _same  # `row_converter`'s answer where no column needs converting


_UUID, _UNKNOWN = uuid.UUID, uuid.SafeUUID.unknown  # an enum member read once, not per id
_new, _set = object.__new__, object.__setattr__


def _uuid(value: Any) -> uuid.UUID | None:
    """SQLite's and MySQL's 32 hex digits (Peewee's UUIDField) made into the UUID
    without `UUID.__init__`'s parsing of every spelling a UUID may have: three ids a
    trade, that parsing was a third of the tape's time. `int` and `is_safe` are the
    attributes a UUID holds (its `__slots__`)."""
    if value is None or isinstance(value, _UUID):
        return value
    if len(value) != 32:
        return _UUID(value)
    made = _new(_UUID)
    _set(made, "int", int(value, 16))
    _set(made, "is_safe", _UNKNOWN)
    return made


_KEPT: list[dict[Any, Any]] = []  # every value kept by `_exact` and `Made`: `forget`


def forget() -> None:
    """Drop every value the reads keep (`_exact`, `Made`): the next read makes each row
    anew (benchmarks' first-read figures, tests)."""
    for kept in _KEPT:
        kept.clear()


@functools.cache
def _exact(places: int) -> Convert:
    """SQLite's REAL (or INTEGER) as the exact Decimal it stands for, with `places`
    decimals. Prices and amounts repeat a great deal: each distinct value is made once.

    Made as the text of the float rounded to `places` decimals (`"%.2f" % value`, the
    binary value correctly rounded), read by Decimal: the stored REAL is the double
    nearest the decimal written, which has at most 15 significant digits
    (`db.fields.ExactDecimalField`), so it lies within far less than half a unit of
    the last place from it and rounds back to it exactly; about 20% cheaper than
    `Decimal(str(value)).quantize(...)`, which makes the same Decimal
    (benchmarks/read_steps.py; tests/test_reads.py checks both against the decimals
    written, at the schema's extremes).
    A zero is 0.00, never -0.00 (as PostgreSQL's and MySQL's DECIMAL read back; SQLite's
    NUMERIC columns store -0.0 as the integer 0 anyway), so that values the driver
    calls equal (0, 0.0, -0.0; 10, 10.0) always make the same Decimal: `Made` relies
    on it."""
    zero = Decimal(0).scaleb(-places)
    text = f"%.{places}f"
    made: dict[Any, Decimal] = {}
    _KEPT.append(made)

    def convert(value: Any) -> Decimal | None:
        if value is None:
            return None
        found = made.get(value)
        if found is None:
            if len(made) > 50_000:
                made.clear()
            found = made[value] = Decimal(text % value) or zero
        return found

    return convert


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value if len(value) == 10 else str(value)[:10])


def _datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


def backend() -> str:
    return backend_of(db)


@functools.cache
def trade_converters(backend: str) -> tuple[Convert, ...] | None:
    """One per TRADE_COLUMNS column (None: PostgreSQL's values are already right)."""
    if backend == "postgres":
        return None
    kwh, price, money = (
        (_same, _same, _same)
        if backend == "mysql"
        else (_exact(ENERGY_PLACES), _exact(PRICE_PLACES), _exact(MONEY_PLACES))
    )
    when = _same if backend == "mysql" else _datetime
    seq = _same if backend == "sqlite" else int  # SQLite's INTEGER is an int already
    return (_uuid, seq, when, kwh, price, money, money, money, _same, _same, _same, _uuid, _uuid)


@functools.cache
def price_converter(backend: str) -> Convert:
    return _same if backend != "sqlite" else _exact(PRICE_PLACES)


def convert_rows(
    rows: list[tuple[Any, ...]], converters: tuple[Convert, ...] | None
) -> list[tuple[Any, ...]] | list[list[Any]]:
    """Rows with each value converted; as they are where nothing needs it (None)."""
    if converters is None:
        return rows
    return list(map(row_converter(converters), rows))


@functools.cache
def row_converter(converters: tuple[Convert, ...] | None) -> Callable[[Sequence[Any]], Any]:
    """One row's values converted, as a list (the row as it is where nothing needs it:
    None). Only the columns that need a converter call one: a call per value saved
    where the driver's value is already right (addresses, sides, SQLite's integers)."""
    if converters is None:
        return _same
    plan = tuple((i, f) for i, f in enumerate(converters) if f is not _same)

    def convert(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, f in plan:
            values[i] = f(values[i])
        return values

    return convert


KEPT_ROWS = 4096
T = TypeVar("T")


class Made(Generic[T]):
    """What a read makes of the driver's rows (views of exact values), each kept by the
    raw row it was made of, so that a row read again is not made again (issue 15).

    The screens read the same rows over and over: the tape's 50 newest trades on every
    change of the market (one row new, 49 as before), the statistics' 365 days on every
    refresh (only today's moves). Making a row (SQLite's REALs as exact Decimals, UUIDs,
    datetimes, the view itself) cost two to three times what reading it cost; looking
    the raw row up costs a hash and a comparison of its values, about a third of
    reading it.

    Exact by construction: a kept value is returned only for a raw row equal to the one
    it was made of, value by value, and the converters make equal values of values the
    driver calls equal (`_exact`: 10 and 10.0, 0.0 and -0.0). A changed row (an update,
    a row of another database) is another key, made anew; nothing is ever invalidated
    because nothing kept depends on anything but its key. One `Made` per backend and
    read (`functools.cache` on the backend's name), so rows of different drivers never
    meet. What `make` returns must be true (a view, a non-empty tuple): None and false
    values mark a row not yet made. At most `limit` rows are kept (about 2 kB each for
    a trade): past that everything kept is dropped and kept anew (a thread reading
    meanwhile makes its rows itself, never looks a row up after the drop), and a read
    of more than a quarter of `limit` rows (an export, a long page) is made without
    keeping.

    With `keep` False every row is made. Keeping pays on SQLite only, whose rows are
    floats, text and integers, quick to hash and compare: PostgreSQL's and MySQL's
    drivers hand back Decimals (and PostgreSQL UUIDs), whose hashes are computed anew
    for each row read (a Decimal's modular hash, a Python `UUID.__hash__`), and
    looking a row up cost more than making its view (PostgreSQL: the tape 2.0x its raw
    SQL kept, 1.6x made; the statistics 2.1x against 1.1x; per row, the statistics
    2.9 us looked up against 0.3 us made, MySQL 3.1 against 0.9).
    """

    def __init__(self, make: Callable[[Any], T], limit: int = KEPT_ROWS, keep: bool = True) -> None:
        self.make, self.limit, self.keep = make, limit, keep
        self.kept: dict[Any, T] = {}
        _KEPT.append(self.kept)

    def __call__(self, rows: Sequence[Any]) -> list[T]:
        if not self.keep or len(rows) > self.limit // 4:
            return list(map(self.make, rows))
        kept = self.kept
        made: list[Any] = list(map(kept.get, rows))
        if all(made):
            return made
        if len(kept) + len(rows) > self.limit:
            kept.clear()
        make = self.make
        for i, value in enumerate(made):
            if not value:
                row = rows[i]
                made[i] = kept[row] = make(row)
        return made


DAY_COLUMNS = (
    "date, total_trades, total_volume, notional, average_price, highest_price, "
    "lowest_price, active_buy_orders, active_sell_orders"
)


@functools.cache
def days_statement(backend: str) -> str:
    p = "?" if backend == "sqlite" else "%s"
    return f"SELECT {DAY_COLUMNS} FROM market_statistics WHERE date >= {p} ORDER BY date"


@functools.cache
def day_converters(backend: str) -> tuple[Convert, ...] | None:
    """One per DAY_COLUMNS column (None: PostgreSQL's values are already right)."""
    if backend == "postgres":
        return None
    if backend == "mysql":
        return (_date, int, _same, _same, _same, _same, _same, int, int)
    kwh, price, count = _exact(ENERGY_PLACES), _exact(PRICE_PLACES), _same  # INTEGER: an int
    notional = _exact(ENERGY_PLACES + PRICE_PLACES)
    return (_date, count, kwh, notional, price, price, price, count, count)


def days_raw(since: dt.date) -> list[tuple[Any, ...]]:
    """The driver's rows of DAY_COLUMNS from `since` on, oldest first (`day_converters`
    makes them exact)."""
    return _fetch(days_statement(backend()), (since,))


def days_rows(since: dt.date) -> list[tuple[Any, ...]] | list[list[Any]]:
    """Rows of DAY_COLUMNS from `since` on, oldest first, their values exact."""
    return convert_rows(days_raw(since), day_converters(backend()))


def _fetch(text: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of a fixed statement; on SQLite without Peewee's per-call machinery
    (`execute_plain`, as the matcher's statements)."""
    plain = getattr(db.obj, "execute_plain", None)
    cursor = plain(text, params) if plain is not None else db.execute_sql(text, params)
    return list(cursor.fetchall())


@functools.lru_cache(maxsize=256)
def trades_statement(
    backend: str, who: str | None, since: bool, until: bool, before: bool = False, limit: int = 50
) -> str:
    """The newest `limit` trades, `who`: None (all), "buyer", "seller" or "both"
    (either side: the newest of each side's index, merged). Parameters: [address],
    [since], [until], [before seq], repeated for each side for "both". The limit is in
    the text, not a parameter: PostgreSQL ran the tape's statement 0.06-0.09 ms (about
    20%) slower with `LIMIT $1` (1,500 alternate runs, fastest and tenth percentile)."""
    p = "?" if backend == "sqlite" else "%s"
    top = int(limit)  # an int in the text, never anything else
    window = (
        (f" AND executed_at >= {p}" if since else "")
        + (f" AND executed_at < {p}" if until else "")
        + (f" AND seq < {p}" if before else "")
    )

    def newest(condition: str) -> str:
        return (
            f"SELECT {TRADE_COLUMNS} FROM energy_trades WHERE {condition}{window} "
            f"ORDER BY seq DESC LIMIT {top}"
        )

    if who is None:
        return newest("1 = 1")
    if who != "both":
        return newest(f"{who}_address = {p}")
    return (
        f"SELECT * FROM ({newest(f'buyer_address = {p}')}) b UNION ALL "
        f"SELECT * FROM ({newest(f'seller_address = {p}')}) s ORDER BY seq DESC LIMIT {top}"
    )


def trades_raw(
    address: str | None,
    side: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    before_seq: int | None = None,
) -> list[tuple[Any, ...]]:
    """The driver's rows of TRADE_COLUMNS, newest first (see `book.trades`;
    `trade_converters` makes them exact)."""
    name = backend()
    who = None if address is None else {"buy": "buyer", "sell": "seller"}.get(side or "", "both")
    branch: list[Any] = [] if address is None else [address]
    branch += [value for value in (since, until, before_seq) if value is not None]
    params = branch * 2 if who == "both" else branch
    text = trades_statement(
        name, who, since is not None, until is not None, before_seq is not None, limit
    )
    return _fetch(text, params)


def trades_rows(
    address: str | None,
    side: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    before_seq: int | None = None,
) -> list[tuple[Any, ...]] | list[list[Any]]:
    """Rows of TRADE_COLUMNS' values, newest first, made exact."""
    rows = trades_raw(address, side, since, until, limit, before_seq)
    return convert_rows(rows, trade_converters(backend()))


ORDER_COLUMNS = (
    "id, trader_address, order_type, energy_amount, price_per_kwh, filled_amount, status, "
    "time_in_force, created_at, expires_at, watt_reserved, kind, status_reason, placed_seq"
)


@functools.cache
def open_orders_statement(backend: str) -> str:
    """One prosumer's open orders not expired at now (swept or not), newest first (the
    (trader_address, placed_seq) index). Parameters: is_active, address, now."""
    p = "?" if backend == "sqlite" else "%s"
    return (
        f"SELECT {ORDER_COLUMNS} FROM energy_orders WHERE is_active = {p} "
        f"AND trader_address = {p} AND (expires_at IS NULL OR expires_at > {p}) "
        "ORDER BY placed_seq DESC"
    )


@functools.cache
def order_converters(backend: str) -> tuple[Convert, ...]:
    """One per ORDER_COLUMNS column."""
    kwh, price, money = (
        (_same, _same, _same)
        if backend != "sqlite"
        else (_exact(ENERGY_PLACES), _exact(PRICE_PLACES), _exact(MONEY_PLACES))
    )
    when = _datetime if backend == "sqlite" else _same
    text, seq = _same, (_same if backend == "sqlite" else int)
    return (_uuid, text, text, kwh, price, kwh, text, text, when, when, money, text, text, seq)


def open_orders_raw(address: str, now: dt.datetime) -> list[tuple[Any, ...]]:
    """The driver's rows of ORDER_COLUMNS: `address`'s open orders not expired at
    `now`, newest first (`order_converters` makes them exact)."""
    return _fetch(open_orders_statement(backend()), (True, address, now))


@functools.cache
def book_statements(backend: str, mine: bool = False) -> tuple[str, str, str]:
    """(bids, asks, last two prices): the levels of one side, best first, from the
    (is_active, order_type, price_per_kwh, seq) index; with `mine`, a fourth column:
    the remaining kWh of one prosumer's orders at the level. Parameters for a side:
    [address], is_active, side, now, depth."""
    p = "?" if backend == "sqlite" else "%s"

    def remaining(expr: str) -> str:
        if backend == "sqlite":
            return f"SUM(CAST(ROUND(({expr}) * {10**ENERGY_PLACES}) AS INTEGER))"
        return f"SUM({expr})"

    left = "energy_amount - filled_amount"
    own = f", {remaining(f'CASE WHEN trader_address = {p} THEN {left} ELSE 0 END')}" if mine else ""

    def side(order: str) -> str:
        return (
            f"SELECT price_per_kwh, {remaining(left)}, COUNT(*){own} FROM energy_orders "
            f"WHERE is_active = {p} AND order_type = {p} "
            f"AND (expires_at IS NULL OR expires_at > {p}) "
            f"GROUP BY price_per_kwh ORDER BY price_per_kwh {order} LIMIT {p}"
        )

    last = "SELECT price_per_kwh FROM energy_trades ORDER BY seq DESC LIMIT 2"
    return side("DESC"), side("ASC"), last
