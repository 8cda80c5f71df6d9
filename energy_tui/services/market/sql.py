"""The matching hot path's statements, written once per backend.

Peewee spends far more time composing a statement than the database spends running
it (about 0.3 ms against 0.02 ms on SQLite), and a placement runs a dozen. The
matcher therefore executes these fixed texts with `execute_sql`; everything else
uses the models. Values are bound as parameters; they go through the same adapters
as Peewee's (Decimal as text on SQLite, UUIDs as hex, as `UUIDField` stores them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from energy_tui.db import drivers
from energy_tui.db.connect import PEEWEE_ERRORS, backend_of, lock_timeout_of
from energy_tui.db.failures import busy, is_lock_timeout
from energy_tui.db.models import db
from energy_tui.errors import DatabaseBusy, MarketBusy

_ORDER_COLUMNS = (
    "id, trader_address, order_type, energy_amount, price_per_kwh, filled_amount, "
    "watt_reserved, seq, time_in_force"
)
# The market rules in `market_state`, in the order of MarketRules' fields.
RULE_COLUMNS = (
    "grid_fee_rate, order_ttl_hours, grid_operator_address, grid_import_price, "
    "price_band_percent, min_order_value"
)
_ACCOUNT_COLUMNS = (
    "address, watt_tokens, watt_reserved, energy_generated, energy_consumed, energy_bought, "
    "energy_sold, energy_reserved"
)


@dataclasses.dataclass(frozen=True)
class Statements:
    lock_state: str
    save_state: str
    due_orders: str
    expire_order: str
    account: str
    save_account: str
    trader_buying: str
    trader_selling: str
    asks_up_to: str
    bids_down_to: str
    insert_order: str
    save_maker: str
    asks_remaining: str
    bids_remaining: str
    last_trade_price: str
    best_price_desc: str
    best_price_asc: str
    insert_trade: str
    insert_audit: str
    stats_row: str
    save_stats: str
    insert_stats: str
    upsert_stats_counts: str


@functools.cache
def _build(backend: str) -> Statements:
    p = "?" if backend == "sqlite" else "%s"
    lock = "" if backend == "sqlite" else " FOR UPDATE"
    crossing = "FROM energy_orders WHERE is_active = {p} AND order_type = {side} AND price_per_kwh"
    # An address in any case (the grid operator's comes from the settings as typed);
    # the row gives it back as stored. MySQL's collation ignores case by itself.
    any_case = "address = {p}" if backend == "mysql" else "lower(address) = lower({p})"
    return Statements(
        # The state row, locked, when the next active order expires, and the rules.
        lock_state=(
            f"SELECT order_seq, trade_seq, version, open_buy_orders, open_sell_orders, "
            f"(SELECT MIN(expires_at) FROM energy_orders WHERE is_active = {p}), "
            f"{RULE_COLUMNS} FROM market_state WHERE id = 1{lock}"
        ),
        save_state=(
            f"UPDATE market_state SET order_seq = {p}, trade_seq = {p}, version = {p}, "
            f"open_buy_orders = {p}, open_sell_orders = {p}, updated_at = {p} "
            f"WHERE id = 1"
        ),
        due_orders=(
            f"SELECT {_ORDER_COLUMNS} FROM energy_orders "
            f"WHERE is_active = {p} AND expires_at <= {p}"
        ),
        expire_order=(
            f"UPDATE energy_orders SET status = 'expired', is_active = {p}, "
            f"watt_reserved = 0, updated_at = {p}, status_reason = {p} WHERE id = {p}"
        ),
        account=f"SELECT {_ACCOUNT_COLUMNS} FROM prosumers WHERE {any_case.format(p=p)}{lock}",
        save_account=(
            f"UPDATE prosumers SET watt_tokens = {p}, watt_reserved = {p}, "
            f"energy_bought = {p}, energy_sold = {p}, energy_reserved = {p}, "
            f"updated_at = {p} WHERE address = {p}"
        ),
        # The trader's account, locked, and the best price of its own resting orders
        # on the other side that the new order would cross (the self-trade check).
        trader_buying=(
            f"SELECT {_ACCOUNT_COLUMNS}, (SELECT MIN(price_per_kwh) "
            f"{crossing.format(p=p, side=p)} <= {p} AND trader_address = {p}) "
            f"FROM prosumers WHERE address = {p}{lock}"
        ),
        trader_selling=(
            f"SELECT {_ACCOUNT_COLUMNS}, (SELECT MAX(price_per_kwh) "
            f"{crossing.format(p=p, side=p)} >= {p} AND trader_address = {p}) "
            f"FROM prosumers WHERE address = {p}{lock}"
        ),
        asks_up_to=(
            f"SELECT {_ORDER_COLUMNS} {crossing.format(p=p, side=p)} <= {p} "
            f"ORDER BY price_per_kwh ASC, seq ASC LIMIT {p}"
        ),
        bids_down_to=(
            f"SELECT {_ORDER_COLUMNS} {crossing.format(p=p, side=p)} >= {p} "
            f"ORDER BY price_per_kwh DESC, seq ASC LIMIT {p}"
        ),
        insert_order=(
            "INSERT INTO energy_orders (id, trader_address, order_type, energy_amount, "
            "price_per_kwh, is_active, created_at, filled_amount, status, time_in_force, "
            "expires_at, updated_at, watt_reserved, seq, kind, status_reason, placed_seq) "
            f"VALUES ({', '.join([p] * 17)})"
        ),
        # What a fill-or-kill order could take at once: the crossing makers' remainders
        # in the order the matcher would meet them (read until enough).
        asks_remaining=(
            f"SELECT energy_amount, filled_amount {crossing.format(p=p, side=p)} <= {p} "
            "ORDER BY price_per_kwh ASC, seq ASC"
        ),
        bids_remaining=(
            f"SELECT energy_amount, filled_amount {crossing.format(p=p, side=p)} >= {p} "
            "ORDER BY price_per_kwh DESC, seq ASC"
        ),
        # The reference a market order's default cap is taken from.
        last_trade_price="SELECT price_per_kwh FROM energy_trades ORDER BY seq DESC LIMIT 1",
        best_price_desc=(
            f"SELECT price_per_kwh FROM energy_orders WHERE is_active = {p} "
            f"AND order_type = {p} AND (expires_at IS NULL OR expires_at > {p}) "
            "ORDER BY price_per_kwh DESC LIMIT 1"
        ),
        best_price_asc=(
            f"SELECT price_per_kwh FROM energy_orders WHERE is_active = {p} "
            f"AND order_type = {p} AND (expires_at IS NULL OR expires_at > {p}) "
            "ORDER BY price_per_kwh ASC LIMIT 1"
        ),
        save_maker=(
            f"UPDATE energy_orders SET filled_amount = {p}, watt_reserved = {p}, "
            f"updated_at = {p}, status = {p}, is_active = {p}, status_reason = {p} "
            f"WHERE id = {p}"
        ),
        insert_trade=(
            "INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address, "
            "seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee, "
            f"buyer_total, taker_side, seq) VALUES ({', '.join([p] * 13)})"
        ),
        insert_audit=(
            "INSERT INTO audit_logs (created_at, event_type, user_id, api_key_id, ip_address, "
            f"event_data, actor, outcome) VALUES ({', '.join([p] * 8)})"
        ),
        stats_row=(
            f"SELECT total_trades, total_volume, notional, highest_price, lowest_price "
            f"FROM market_statistics WHERE date = {p}"
        ),
        save_stats=(
            f"UPDATE market_statistics SET total_trades = {p}, total_volume = {p}, "
            f"notional = {p}, average_price = {p}, highest_price = {p}, "
            f"lowest_price = {p}, active_buy_orders = {p}, active_sell_orders = {p} "
            f"WHERE date = {p}"
        ),
        insert_stats=(
            "INSERT INTO market_statistics (date, total_trades, total_volume, notional, "
            "average_price, highest_price, lowest_price, active_buy_orders, "
            f"active_sell_orders, created_at) VALUES ({', '.join([p] * 10)})"
        ),
        upsert_stats_counts=(
            "INSERT INTO market_statistics (date, total_trades, total_volume, notional, "
            "average_price, highest_price, lowest_price, active_buy_orders, "
            f"active_sell_orders, created_at) VALUES ({p}, 0, 0, 0, 0, 0, 0, {p}, {p}, {p}) "
            + _upsert(backend, ("active_buy_orders", "active_sell_orders"))
        ),
    )


def _upsert(backend: str, columns: tuple[str, ...]) -> str:
    if backend == "mysql":
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in columns)
    return "ON CONFLICT (date) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns)


def statements() -> Statements:
    return _build(backend_of(db))


def prefetching() -> bool:
    """Whether a placement reads the candle buckets of the moment with the market lock,
    instead of a round trip later under it when it trades: MySQL/MariaDB, whose
    placement runs here (PostgreSQL's runs in the server function; SQLite has no round
    trips)."""
    return backend_of(db) == "mysql"


def accounts_statement(count: int) -> str:
    """`count` prosumers' balances, locked, in one statement (addresses in any case but
    on MySQL, whose collation ignores case by itself and would not use the index)."""
    return _accounts(backend_of(db), count)


@functools.cache
def _accounts(backend: str, count: int) -> str:
    p = "?" if backend == "sqlite" else "%s"
    lock = "" if backend == "sqlite" else " FOR UPDATE"
    if backend == "mysql":
        where = f"address IN ({', '.join([p] * count)})"
    else:
        where = f"lower(address) IN ({', '.join([f'lower({p})'] * count)})"
    return f"SELECT {_ACCOUNT_COLUMNS} FROM prosumers WHERE {where}{lock}"


_pending = threading.local()


def run(sql: str, *params: Any) -> Any:
    """Execute one statement (after any pending writes); return the cursor."""
    flush()
    return _execute(sql, params)


def _execute(sql: str, params: tuple[Any, ...]) -> Any:
    plain = getattr(db.obj, "execute_plain", None)  # SQLite's lighter path
    return plain(sql, params) if plain is not None else db.execute_sql(sql, params)


def pipelined() -> bool:
    """Whether `read_together` and `batch` save round trips here: PostgreSQL and
    MySQL (several statements sent as one text)."""
    return backend_of(db) != "sqlite"


def read_together(
    *queries: tuple[str, tuple[Any, ...]], compact: bool = False
) -> list[list[tuple[Any, ...]]]:
    """Every row of each query, in order; on PostgreSQL and MySQL in one round trip.

    The server still runs them one after another, and each sees what was committed
    when it started: a read queued behind the market lock runs once the lock is held,
    exactly as if it had been sent then.

    `compact` (for reads made under the market lock): on MySQL each row comes as one
    JSON array (`as_json_rows`), the same values but DATETIMEs as their text, which
    the callers read with `fromisoformat`.
    """
    flush()
    backend = backend_of(db)
    if backend == "sqlite":
        return [_execute(sql, params).fetchall() for sql, params in queries]
    if compact and backend == "mysql":
        with _driver_errors():
            results = _as_one_text([(as_json_rows(sql), params) for sql, params in queries])
        return [[from_json_row(row[0]) for row in rows] for rows in results]
    with _driver_errors():
        return _as_one_text(queries)


@functools.cache
def as_json_rows(sql: str) -> str:
    """MySQL: `SELECT a, b FROM ...` as `SELECT JSON_ARRAY(a, b) FROM ...`: one column a
    row. PyMySQL is pure Python and parses every column's description packet of every
    result, about 10 us each on this machine: a placement's opening reads had 61
    columns, parsed while the market lock was held; as JSON they have 5, and the rows
    are parsed by `json` in C. Exact: MariaDB writes a DECIMAL in JSON with its digits
    and scale (`0.0500`, `1000000.00`), read back as that Decimal by `from_json_row`."""
    if not sql.startswith("SELECT "):
        raise ValueError(f"not a SELECT: {sql[:40]!r}")
    depth, start = 0, len("SELECT ")
    for i in range(start, len(sql)):
        char = sql[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(" FROM ", i):
            return f"SELECT JSON_ARRAY({sql[start:i]}){sql[i:]}"
    raise ValueError(f"no FROM in {sql[:40]!r}")


# One decoder for every row: `json.loads` with an argument builds a decoder a call, and
# `decode` matches the whitespace around the value with a regex each time; a row of ours
# starts with "[" and ends with "]", so `raw_decode` and an end check say the same.
_ROW_DECODER = json.JSONDecoder(parse_float=Decimal)


def from_json_row(text: str) -> tuple[Any, ...]:
    """A row of `as_json_rows`: numbers with a point as exact Decimals, whole numbers
    as int, strings (DATETIMEs as their text), NULL as None."""
    values, end = _ROW_DECODER.raw_decode(text)
    if end != len(text):
        raise ValueError(f"text after the row's JSON array: {text[end:][:40]!r}")
    return tuple(values)


def _as_one_text(
    queries: Sequence[tuple[str, tuple[Any, ...]]],
) -> list[list[tuple[Any, ...]]]:
    """PostgreSQL and MySQL: the statements sent as one text (one round trip), each
    statement's rows back in order. The values are bound by the driver on the client
    (psycopg's ClientCursor, PyMySQL's own binding), so each is quoted exactly as it
    would be alone; MySQL's connection allows several statements a text
    (CLIENT.MULTI_STATEMENTS, `db.connect`). A failing statement stops the rest and
    raises here. (psycopg's pipeline mode did the same in one round trip too, but spun
    the client's CPU while waiting for the answer.)"""
    connection = db.connection()
    if backend_of(db) == "postgres":
        if drivers.postgres_driver() != "psycopg":
            return _one_by_one(connection, queries)
        from psycopg import ClientCursor

        cursor = ClientCursor(connection)
    else:
        cursor = connection.cursor()
    take_begin = getattr(db.obj, "take_pending_begin", None)
    began = take_begin is not None and take_begin()
    if began:  # MySQL: the deferred BEGIN, in this round trip
        queries = [("BEGIN", ()), *queries]
    with cursor:
        cursor.execute(";\n".join(cursor.mogrify(sql, params) for sql, params in queries))
        results = [_rows(cursor)]
        while cursor.nextset():
            results.append(_rows(cursor))
    return results[1:] if began else results


@contextlib.contextmanager
def begin_with_first_text(own_transaction: bool) -> Iterator[None]:
    """MySQL: the transaction that `db.atomic()` begins inside this block sends its
    BEGIN with the first text (the market lock's), not in a round trip of its own."""
    defer = getattr(db.obj, "defer_begin", None)
    if defer is None or not own_transaction:
        yield
        return
    defer()
    try:
        yield
    finally:
        defer(False)


def _one_by_one(
    connection: Any, queries: Sequence[tuple[str, tuple[Any, ...]]]
) -> list[list[tuple[Any, ...]]]:
    """psycopg2: a round trip a statement (it hands back the rows of a text's last
    statement only, and has no `nextset`)."""
    results = []
    with connection.cursor() as cursor:
        for sql, params in queries:
            cursor.execute(sql, params or None)
            results.append(_rows(cursor))
    return results


def _rows(cursor: Any) -> list[tuple[Any, ...]]:
    return list(cursor.fetchall()) if cursor.description is not None else []


@contextlib.contextmanager
def _driver_errors() -> Iterator[None]:
    """The driver's errors as Peewee's (as `execute_sql` raises them), a lock wait
    that ran out as DatabaseBusy."""
    try:
        with PEEWEE_ERRORS:
            yield
    except Exception as exc:
        if is_lock_timeout(exc):
            raise busy(lock_timeout_of(db)) from exc
        raise


def lock_market() -> tuple[Any, ...]:
    """Take the market lock for the rest of the transaction; return the state row
    (order_seq, trade_seq, version, open buys, open sells, next expiry, then the
    rules' RULE_COLUMNS).

    PostgreSQL and MySQL: a row lock on `market_state` (released at commit or
    rollback). SQLite: the transaction is already BEGIN IMMEDIATE.
    """
    return run(statements().lock_state, True).fetchone()


P = ParamSpec("P")
R = TypeVar("R")


def market_busy(action: Callable[P, R]) -> Callable[P, R]:
    """`action` (which takes the market lock), raising MarketBusy when the lock wait ran
    out (DB_TIMEOUT_SECONDS): SQLite's write lock, PostgreSQL's lock_timeout, MySQL's
    innodb_lock_wait_timeout, whether Peewee or `read_together` reported it. Its transaction
    is rolled back by then, so nothing was written."""

    @functools.wraps(action)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return action(*args, **kwargs)
        except DatabaseBusy as exc:
            raise _market_busy(exc.seconds) from exc
        except Exception as exc:
            if is_lock_timeout(exc):
                raise _market_busy(lock_timeout_of(db)) from exc
            raise

    return guarded


def _market_busy(seconds: int) -> MarketBusy:
    return MarketBusy(
        f"the market is busy: another order held it for more than {seconds} s, try again",
        seconds,
    )


def write(sql: str, *params: Any) -> None:
    """Execute a statement whose result is not needed.

    Inside `batch()` on PostgreSQL and MySQL it is queued and sent with the others as
    one text (one network round trip instead of one each); elsewhere it runs now.
    """
    queue = getattr(_pending, "queue", None)
    if queue is None:
        _execute(sql, params)
    else:
        queue.append((sql, params))


def flush(commit: bool = False) -> None:
    """Send the queued writes in one round trip; with `commit`, COMMIT in the same one,
    so that the market lock is released as the writes land (no further round trip
    holding it)."""
    queue: list[tuple[str, tuple[Any, ...]]] = getattr(_pending, "queue", None) or []
    if not queue and not commit:
        return
    _pending.queue = []
    if commit:
        queue.append(("COMMIT", ()))
    with _driver_errors():
        _as_one_text(queue)


@contextlib.contextmanager
def batch(*, commit: bool = False) -> Iterator[None]:
    """Queue `write`s until the block ends (PostgreSQL, MySQL); `run` reads flush first.

    Use inside the transaction, so a failure discards the queue and rolls back, and
    only where every read in the block goes through `run`: a Peewee model query does
    not flush the queue and would read stale rows. With `commit`, for a block that is
    the whole of a transaction the caller began itself (`with db.atomic(),
    batch(commit=True):` with no transaction open before: not a savepoint, which
    Peewee does not count in `transaction_depth`), the COMMIT goes with the writes, so
    the market lock is released as they land; the transaction's own commit then finds
    nothing left to do. Nothing may run in that transaction after the block.
    """
    if not pipelined() or getattr(_pending, "queue", None) is not None:
        yield
        return
    _pending.queue = []
    try:
        yield
        flush(commit=commit)
    finally:
        _pending.queue = None


def uid(value: uuid.UUID | None) -> str | None:
    return value.hex if value is not None else None


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def dec(value: Any, exponent: Decimal) -> Decimal:
    """A column value as an exact Decimal (SQLite hands back REAL or INTEGER)."""
    if value is None:
        return Decimal(0).quantize(exponent)
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(exponent)
