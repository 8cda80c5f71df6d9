"""Daily market statistics (kept in the trade's transaction), candles, rebuild."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from peewee import fn

from energy_tui import clock
from energy_tui.db.exact import day_of, epoch_bucket, exact_sum, exact_sum_product, exact_value
from energy_tui.db.fields import ENERGY_PLACES, PRICE_PLACES
from energy_tui.db.models import CANDLE_SIZES, EnergyTrade, MarketStatistics, db
from energy_tui.services.market import candles as buckets
from energy_tui.services.market import limits, reads
from energy_tui.services.market.money import round_price
from energy_tui.services.market.sql import dec, lock_market, read_together, statements, write
from energy_tui.services.market.views import Fill

NOTIONAL_PLACES = ENERGY_PLACES + PRICE_PLACES
_ZERO = Decimal(0)
_KWH = Decimal(1).scaleb(-ENERGY_PLACES)
_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
_NOTIONAL = Decimal(1).scaleb(-NOTIONAL_PLACES)


UNREAD: Any = object()  # `record`'s `stored`: the day's row is read by `record` itself


def record(
    day: dt.date,
    fills: Iterable[Fill],
    open_buys: int,
    open_sells: int,
    now: dt.datetime,
    stored: Any = UNREAD,
    candles: tuple[list[buckets.Key], list[tuple[Any, ...]]] | None = None,
) -> None:
    """Add fills to the day's row and to their candle buckets, and refresh the day's
    open-order counts (inside the matching transaction, so both always agree with the
    trades). `stored`: the day's `stats_row` (None: there is none) when read already
    under the market lock; `candles`: the buckets of some keys, read already under it
    (used when they are the fills' keys)."""
    fills = list(fills)
    sql = statements()
    if not fills:
        write(sql.upsert_stats_counts, day, open_buys, open_sells, now)
        return
    keys = buckets.keys_of(fills)
    known = candles[1] if candles is not None and candles[0] == keys else None
    queries = [] if known is not None else [buckets.load_query(keys)]
    if stored is UNREAD:
        queries.insert(0, (sql.stats_row, (day,)))
    results = read_together(*queries, compact=True) if queries else []
    row = stored
    if stored is UNREAD:
        day_rows = results.pop(0)
        row = day_rows[0] if day_rows else None
    candle_rows = known if known is not None else results[0]
    trades, volume, notional, high, low = (
        (
            int(row[0]),
            dec(row[1], _KWH),
            dec(row[2], _NOTIONAL),
            dec(row[3], _PRICE),
            dec(row[4], _PRICE),
        )
        if row
        else (0, _ZERO, _ZERO, _ZERO, _ZERO)
    )
    for fill in fills:
        high = fill.price if trades == 0 else max(high, fill.price)
        low = fill.price if trades == 0 else min(low, fill.price)
        trades += 1
        volume += fill.amount
        notional += fill.amount * fill.price
    # past the columns: refused before anything is written (the day, then its buckets,
    # as the server function writes them)
    limits.check_day(volume, notional)
    buckets.record(fills, keys, candle_rows)
    average = round_price(notional / volume) if volume else _ZERO
    values = (trades, volume, notional, average, high, low, open_buys, open_sells)
    if row is None:
        write(sql.insert_stats, day, *values, now)
    else:
        write(sql.save_stats, *values, day)


class DayStats(NamedTuple):
    """One day's `market_statistics` row, as the screens and the CLI read it (a named
    tuple: 365 of them are made per refresh of the statistics screen)."""

    date: dt.date
    total_trades: int
    total_volume: Decimal
    notional: Decimal
    average_price: Decimal
    highest_price: Decimal
    lowest_price: Decimal
    active_buy_orders: int
    active_sell_orders: int


def daily(days: int, today: dt.date | None = None) -> list[DayStats]:
    """The last `days` daily rows (days without a row are absent), oldest first; one
    fixed statement read as tuples (`reads.days_raw`), each row made once (`day_views`)."""
    today = today or clock.now().date()
    since = today - dt.timedelta(days=days - 1)
    return day_views(reads.backend())(reads.days_raw(since))


@functools.cache
def day_views(backend: str) -> reads.Made[DayStats]:
    """The driver's daily rows as DayStats, each kept by its raw row (`reads.Made`):
    the statistics screen reads the same days again on every refresh. On SQLite
    only: PostgreSQL's and MySQL's rows hold Decimals, slower to look up than to make
    a view of (`Made`'s `keep`)."""
    convert = reads.row_converter(reads.day_converters(backend))
    # tuple.__new__ called from C, not `_make`'s Python (a fixed statement's 9 columns)
    day = functools.partial(tuple.__new__, DayStats)
    make = day if convert is reads.same else lambda row: day(convert(row))
    return reads.Made(make, keep=backend == "sqlite")


@dataclasses.dataclass(frozen=True)
class Candle:
    start: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


def candles(seconds: int, since: dt.datetime, until: dt.datetime | None = None) -> list[Candle]:
    """OHLCV per `seconds`-wide bucket, oldest first, for the buckets with trades that
    overlap [since, until) (a bucket that begins before `since` counts whole).

    The sizes kept in `market_candles` (CANDLE_SIZES: 15 min, 1 h, 1 day) are read
    from there, in time independent of the trades they hold; any other width is
    computed from the trades in [since, until).
    """
    until = until or clock.now() + dt.timedelta(seconds=1)
    if seconds in CANDLE_SIZES:
        return [
            Candle(
                buckets.as_datetime(start),
                dec(o, _PRICE),
                dec(h, _PRICE),
                dec(lo, _PRICE),
                dec(c, _PRICE),
                dec(volume, _KWH),
                int(count),
            )
            for start, o, h, lo, c, volume, count in buckets.read(seconds, since, until)
        ]
    return _candles_from_trades(seconds, since, until)


def _candles_from_trades(seconds: int, since: dt.datetime, until: dt.datetime) -> list[Candle]:
    t = EnergyTrade
    bucket = epoch_bucket(db, t.executed_at, seconds)
    rows = list(
        t.select(
            bucket.alias("bucket"),
            fn.MIN(t.seq),
            fn.MAX(t.seq),
            fn.MAX(t.price_per_kwh),
            fn.MIN(t.price_per_kwh),
            exact_sum(db, t.energy_amount, ENERGY_PLACES),
            fn.COUNT(t.id),
        )
        .where((t.executed_at >= since) & (t.executed_at < until))
        .group_by(bucket)
        .order_by(bucket)
        .tuples()
    )
    ends = {seq for row in rows for seq in row[1:3]}
    prices = (
        dict(t.select(t.seq, t.price_per_kwh).where(t.seq.in_(list(ends))).tuples()) if ends else {}
    )
    return [
        Candle(
            dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(b) * seconds),
            dec(prices[first], _PRICE),
            dec(high, _PRICE),
            dec(low, _PRICE),
            dec(prices[last], _PRICE),
            exact_value(db, volume, ENERGY_PLACES),
            count,
        )
        for b, first, last, high, low, volume, count in rows
    ]


@dataclasses.dataclass(frozen=True)
class DayTotals:
    trades: int
    volume: Decimal
    notional: Decimal
    high: Decimal
    low: Decimal


def totals_from_trades() -> dict[dt.date, DayTotals]:
    t = EnergyTrade
    day = day_of(db, t.executed_at)
    query = (
        t.select(
            day,
            fn.COUNT(t.id),
            exact_sum(db, t.energy_amount, ENERGY_PLACES),
            exact_sum_product(db, t.energy_amount, ENERGY_PLACES, t.price_per_kwh, PRICE_PLACES),
            fn.MAX(t.price_per_kwh),
            fn.MIN(t.price_per_kwh),
        )
        .group_by(day)
        .tuples()
    )
    result = {}
    for raw_day, count, volume, notional, high, low in query:
        key = _as_date(raw_day)
        result[key] = DayTotals(
            count,
            exact_value(db, volume, ENERGY_PLACES),
            exact_value(db, notional, NOTIONAL_PLACES),
            dec(high, _PRICE),
            dec(low, _PRICE),
        )
    return result


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):  # SQLite's DATE() text, parsed by Peewee
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def rebuild() -> list[str]:
    """Recompute the trade columns of every daily row, and every candle bucket, from
    the trades.

    Returns one line per day whose stored row disagreed, then one per candle size
    with buckets that disagreed (empty when all agreed). Active order counts are
    snapshots and cannot be recomputed; they are kept.
    """
    changes = []
    with db.atomic():
        lock_market()  # no trade may commit between reading the trades and the rows
        totals = totals_from_trades()
        stored = {row.date: row for row in MarketStatistics.select()}
        for day in sorted(set(totals) | set(stored)):
            row = stored.get(day) or MarketStatistics(date=day, created_at=clock.now())
            fresh = totals.get(day, DayTotals(0, _ZERO, _ZERO, _ZERO, _ZERO))
            before = _trade_columns(row)
            row.total_trades, row.total_volume, row.notional = (
                fresh.trades,
                fresh.volume,
                fresh.notional,
            )
            row.highest_price, row.lowest_price = fresh.high, fresh.low
            row.average_price = (
                round_price(fresh.notional / fresh.volume) if fresh.volume else _ZERO
            )
            if before != _trade_columns(row):
                changes.append(f"{day}: {before} -> {_trade_columns(row)}")
                row.save()
        changes += buckets.rebuild()
    return changes


def _trade_columns(row: MarketStatistics) -> tuple[object, ...]:
    return (
        row.total_trades,
        row.total_volume,
        row.notional,
        row.average_price,
        row.highest_price,
        row.lowest_price,
    )
