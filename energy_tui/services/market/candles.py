"""Candle buckets (15 min, 1 h, 1 day) kept with the trades, as the daily statistics are.

`market_candles` holds one row per bucket size and start (naive UTC): open, high, low,
close, volume, count, and the first and last trade's `seq`, so that open and close
are known exactly when a trade joins the bucket. `stats.record` adds each placement's
fills inside the matching transaction (under the market lock); the screens read the
rows, so a 90-day chart costs 90 rows however many trades it covers. `stats rebuild`
recomputes every bucket from the trades and corrects what disagrees.

Values are exact: decimals are read back with `sql.dec` and summed in Python, never
in SQLite's floating point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from energy_tui.db.connect import backend_of
from energy_tui.db.fields import ENERGY_PLACES, PRICE_PLACES
from energy_tui.db.models import CANDLE_SIZES, MarketCandle, db
from energy_tui.services.market import limits
from energy_tui.services.market.sql import dec, write
from energy_tui.services.market.views import Fill

EPOCH = dt.datetime(1970, 1, 1)
_KWH = Decimal(1).scaleb(-ENERGY_PLACES)
_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
_ZERO = Decimal(0)
_VALUES = "open_price, high_price, low_price, close_price, volume, trades, first_seq, last_seq"
_LABELS = {900: "15 min", 3600: "1 h", 86400: "1 day"}
_BATCH = 500  # rows per INSERT: 11 parameters each, far below every backend's limit


@dataclasses.dataclass
class Bucket:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    first_seq: int
    last_seq: int

    @classmethod
    def of(cls, fill: Fill) -> Bucket:
        return cls(
            fill.price, fill.price, fill.price, fill.price, fill.amount, 1, fill.seq, fill.seq
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Bucket:
        """From the columns of _VALUES, in that order."""
        o, h, lo, c, volume, trades, first, last = row
        return cls(
            dec(o, _PRICE),
            dec(h, _PRICE),
            dec(lo, _PRICE),
            dec(c, _PRICE),
            dec(volume, _KWH),
            int(trades),
            int(first),
            int(last),
        )

    def add(self, fill: Fill) -> None:
        self.high, self.low = max(self.high, fill.price), min(self.low, fill.price)
        self.volume += fill.amount
        self.trades += 1
        if fill.seq < self.first_seq:
            self.first_seq, self.open = fill.seq, fill.price
        if fill.seq >= self.last_seq:
            self.last_seq, self.close = fill.seq, fill.price

    def values(self) -> tuple[Any, ...]:
        return (
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.trades,
            self.first_seq,
            self.last_seq,
        )


def bucket_start(moment: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the `seconds`-wide bucket holding `moment` (whole seconds since the
    epoch, as the SQL of `from_trades` counts them)."""
    elapsed = moment - EPOCH
    whole = elapsed.days * 86400 + elapsed.seconds
    return EPOCH + dt.timedelta(seconds=whole - whole % seconds)


Key = tuple[int, dt.datetime]


def keys_of(fills: Iterable[Fill]) -> list[Key]:
    return sorted({(s, bucket_start(f.executed_at, s)) for f in fills for s in CANDLE_SIZES})


def keys_at(moment: dt.datetime) -> list[Key]:
    """The keys of fills executed at `moment` (`keys_of`'s, for every fill of a
    placement: they share its clock)."""
    return sorted((s, bucket_start(moment, s)) for s in CANDLE_SIZES)


def load_query(keys: list[Key]) -> tuple[str, tuple[Any, ...]]:
    """The statement reading the stored buckets of `keys` (for `sql.read_together`)."""
    p = db.param
    match = " OR ".join([f"(seconds = {p} AND bucket_start = {p})"] * len(keys))
    text = f"SELECT seconds, bucket_start, {_VALUES} FROM market_candles WHERE {match}"
    return text, tuple(value for key in keys for value in key)


def record(fills: list[Fill], keys: list[Key], stored_rows: list[tuple[Any, ...]]) -> None:
    """Add `fills` to their buckets (`stored_rows`: what `load_query(keys)` read)."""
    stored = {(int(r[0]), as_datetime(r[1])): Bucket.from_row(r[2:]) for r in stored_rows}
    fresh: dict[Key, Bucket] = {}
    for fill in sorted(fills, key=lambda f: f.seq):
        for seconds in CANDLE_SIZES:
            key = (seconds, bucket_start(fill.executed_at, seconds))
            bucket = stored.get(key) or fresh.get(key)
            if bucket is None:
                fresh[key] = Bucket.of(fill)
            else:
                bucket.add(fill)
    for bucket in [*stored.values(), *fresh.values()]:
        limits.check_day(bucket.volume, _ZERO)
    text = _statements(backend_of(db))
    for (seconds, start), bucket in stored.items():
        write(text[0], *bucket.values(), seconds, start)
    for (seconds, start), bucket in fresh.items():
        write(text[1], seconds, start, *bucket.values())


@functools.cache
def _statements(backend: str) -> tuple[str, str]:
    p = "?" if backend == "sqlite" else "%s"
    sets = ", ".join(f"{column.strip()} = {p}" for column in _VALUES.split(","))
    return (
        f"UPDATE market_candles SET {sets} WHERE seconds = {p} AND bucket_start = {p}",
        f"INSERT INTO market_candles (seconds, bucket_start, {_VALUES}) "
        f"VALUES ({', '.join([p] * 10)})",
    )


def as_datetime(value: Any) -> dt.datetime:
    """A DATETIME as read: SQLite gives the text it stored."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def read(seconds: int, since: dt.datetime, until: dt.datetime) -> list[tuple[Any, ...]]:
    """(start, open, high, low, close, volume, trades) of the `seconds` buckets that
    overlap [since, until), oldest first, as the database returns them."""
    p = db.param
    return db.execute_sql(
        f"SELECT bucket_start, open_price, high_price, low_price, close_price, volume, trades "
        f"FROM market_candles WHERE seconds = {p} AND bucket_start >= {p} "
        f"AND bucket_start < {p} ORDER BY bucket_start",
        (seconds, bucket_start(since, seconds), until),
    ).fetchall()


def from_trades(
    seconds: int, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[dt.datetime, Bucket]:
    """Every `seconds` bucket recomputed from the trades (in [since, until) if given),
    in SQL: one pass grouping the trades, then the first and last trade of each."""
    backend, p = backend_of(db), db.param
    where, params = [], []
    if since is not None:
        where.append(f"executed_at >= {p}")
        params.append(since)
    if until is not None:
        where.append(f"executed_at < {p}")
        params.append(until)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    bucket = _bucket_sql(backend, seconds, "executed_at")
    volume = (
        f"SUM(CAST(ROUND(energy_amount * {10**ENERGY_PLACES}) AS INTEGER))"
        if backend == "sqlite"
        else "SUM(energy_amount)"
    )
    text = (
        f"SELECT b.bucket, f.price_per_kwh, b.high, b.low, l.price_per_kwh, b.volume, b.n, "
        f"b.first_seq, b.last_seq FROM (SELECT {bucket} AS bucket, MAX(price_per_kwh) AS high, "
        f"MIN(price_per_kwh) AS low, {volume} AS volume, COUNT(*) AS n, MIN(seq) AS first_seq, "
        f"MAX(seq) AS last_seq FROM energy_trades {condition} GROUP BY {bucket}) b "
        f"JOIN energy_trades f ON f.seq = b.first_seq "
        f"AND {_bucket_sql(backend, seconds, 'f.executed_at')} = b.bucket "
        f"JOIN energy_trades l ON l.seq = b.last_seq "
        f"AND {_bucket_sql(backend, seconds, 'l.executed_at')} = b.bucket"
    )
    result: dict[dt.datetime, Bucket] = {}
    for raw, o, h, lo, c, vol, n, first, last in db.execute_sql(text, tuple(params)):
        start = EPOCH + dt.timedelta(seconds=int(raw) * seconds)
        volume_value = (
            Decimal(int(vol)).scaleb(-ENERGY_PLACES).quantize(_KWH)
            if backend == "sqlite"
            else dec(vol, _KWH)
        )
        found = Bucket(
            dec(o, _PRICE),
            dec(h, _PRICE),
            dec(lo, _PRICE),
            dec(c, _PRICE),
            volume_value,
            int(n),
            int(first),
            int(last),
        )
        # Trades of one bucket that share a seq (rows from before seq existed) join
        # more than once: the lowest open and the highest close, the same every time.
        known = result.get(start)
        if known is not None:
            found.open, found.close = min(found.open, known.open), max(found.close, known.close)
        result[start] = found
    return result


def _bucket_sql(backend: str, seconds: int, column: str) -> str:
    """floor(unix time / seconds) of a naive-UTC timestamp column (`db.exact.epoch_bucket`
    as text, for a join condition)."""
    width = int(seconds)
    if backend == "sqlite":
        return f"(CAST(strftime('%s', {column}) AS INTEGER) / {width})"
    if backend == "postgres":
        return f"FLOOR(date_part('epoch', {column}) / {width})"
    return f"FLOOR(UNIX_TIMESTAMP({column}) / {width})"


def stored(seconds: int) -> dict[dt.datetime, Bucket]:
    rows = db.execute_sql(
        f"SELECT bucket_start, {_VALUES} FROM market_candles WHERE seconds = {db.param}",
        (seconds,),
    ).fetchall()
    return {as_datetime(row[0]): Bucket.from_row(row[1:]) for row in rows}


@dataclasses.dataclass(frozen=True)
class Disagreement:
    seconds: int
    fresh: dict[dt.datetime, Bucket]
    wrong: list[dt.datetime]  # stored but different, or missing
    extra: list[dt.datetime]  # stored without trades
    example: str

    def line(self) -> str:
        count = len(self.wrong) + len(self.extra)
        return (
            f"{_LABELS.get(self.seconds, f'{self.seconds} s')} candles: {count} "
            f"bucket{'s' if count != 1 else ''} disagreed with the trades ({self.example})"
        )


def differences() -> list[Disagreement]:
    """Each bucket size whose stored buckets differ from a recomputation (none: [])."""
    found = []
    for seconds in CANDLE_SIZES:
        fresh, kept = from_trades(seconds), stored(seconds)
        wrong = sorted(start for start, bucket in fresh.items() if kept.get(start) != bucket)
        extra = sorted(set(kept) - set(fresh))
        if wrong or extra:
            first = (wrong or extra)[0]
            example = f"{first:%Y-%m-%d %H:%M}: {kept.get(first)} -> {fresh.get(first)}"
            found.append(Disagreement(seconds, fresh, wrong, extra, example))
    return found


def rebuild() -> list[str]:
    """Correct every bucket that disagrees with the trades (the caller holds the market
    lock in a transaction); one line per bucket size corrected."""
    lines = []
    for found in differences():
        _replace(found)
        lines.append(found.line())
    return lines


def _replace(found: Disagreement) -> None:
    c = MarketCandle
    stale = found.wrong + found.extra
    for i in range(0, len(stale), _BATCH):
        chunk = stale[i : i + _BATCH]
        c.delete().where((c.seconds == found.seconds) & c.bucket_start.in_(chunk)).execute()
    rows = [(found.seconds, start, *found.fresh[start].values()) for start in found.wrong]
    fields = [c.seconds, c.bucket_start, c.open_price, c.high_price, c.low_price]
    fields += [c.close_price, c.volume, c.trades, c.first_seq, c.last_seq]
    for i in range(0, len(rows), _BATCH):
        c.insert_many(rows[i : i + _BATCH], fields=fields).execute()
