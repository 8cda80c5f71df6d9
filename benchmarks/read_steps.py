"""Where a hot read's microseconds go on SQLite, per row: the tape's 50 newest trades
and the statistics' 365 days (issue 15), step by step.

    python benchmarks/read_steps.py --use sqlite:///FILE [--repeat 200]

FILE is one filled by benchmarks/book.py. Each step is timed alone over the read's
rows (the best of --repeat rounds, the steps taking turns round after round: the
machine may be shared; no garbage collection while a step is timed), and printed in
microseconds per row and as a share of the bare read (the driver's tuples of floats
and text). The steps are what a read does to show exact values: the Decimals at each
column's scale (the plain way, the text way `reads._exact` uses, SQLite formatting the
text itself, a kept value looked up), the times, the UUIDs, the view, and
`reads.Made`'s lookup of a row already made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from energy_tui.db.connect import open_database
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES, PRICE_PLACES
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.services.market import book, reads, stats

Step = Callable[[], object]
Rows = list[tuple[Any, ...]]


def fetch(text: str, params: tuple[Any, ...] = ()) -> Callable[[], Rows]:
    def run() -> Rows:
        cursor = db.connection().cursor()
        cursor.execute(text, params)
        rows: Rows = cursor.fetchall()
        cursor.close()
        return rows

    return run


def columns(rows: list[tuple[Any, ...]], which: dict[int, int]) -> list[tuple[Any, int]]:
    """(value, places) of the decimal columns `which` (column -> places) of every row."""
    return [(row[i], places) for row in rows for i, places in which.items()]


def plain(values: list[tuple[Any, int]]) -> Step:
    exponents = {p: Decimal(1).scaleb(-p) for p in (2, 4, 6)}
    return lambda: [Decimal(str(v)).quantize(exponents[p]) for v, p in values]


def as_text(values: list[tuple[Any, int]]) -> Step:
    formats = {p: f"%.{p}f" for p in (2, 4, 6)}
    return lambda: [Decimal(formats[p] % v) for v, p in values]


def kept(values: list[tuple[Any, int]]) -> Step:
    converters = {p: reads._exact(p) for p in (2, 4, 6)}
    for v, p in values:
        converters[p](v)
    return lambda: [converters[p](v) for v, p in values]


def from_sqlite_text(texts: list[str]) -> Step:
    return lambda: list(map(Decimal, texts))


def uncached(converters: tuple[reads.Convert, ...]) -> Callable[[Any], list[Any]]:
    """`reads.row_converter` of `converters` with each `reads._exact` replaced by the
    same conversion without its kept values: a row made in full, as on a first read."""
    fresh = {reads._exact(p): p for p in (2, 4, 6)}

    def text_way(places: int) -> reads.Convert:
        text = f"%.{places}f"
        return lambda value: None if value is None else Decimal(text % value)

    plain_converters = tuple(text_way(fresh[f]) if f in fresh else f for f in converters)
    return reads.row_converter(plain_converters)


def best_us(steps: dict[str, Step], repeat: int) -> dict[str, float]:
    """Each step's best time in microseconds, the garbage collector off while timing
    (a collection set off by one step's garbage would be counted to another's)."""
    best = dict.fromkeys(steps, float("inf"))
    for step in steps.values():
        step()
    for _ in range(repeat):
        for name, step in steps.items():
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            step()
            taken = time.perf_counter() - t0
            gc.enable()
            best[name] = min(best[name], taken)
    return {name: seconds * 1e6 for name, seconds in best.items()}


def report(title: str, rows: int, steps: dict[str, Step], repeat: int) -> None:
    found = best_us(steps, repeat)
    bare = found[next(iter(found))]
    print(f"\n{title}: {rows} rows, best of {repeat}")
    print(f"  {'step':<58} {'us/row':>7} {'x bare':>7}")
    for name, us in found.items():
        print(f"  {name:<58} {us / rows:7.3f} {us / bare:7.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--use", required=True, metavar="URL", help="a SQLite file of book.py")
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args()
    database = open_database(parse_url(args.use), pool_size=2, timeout=60)
    db.initialize(database)
    database.connect()

    tape = f"SELECT {reads.TRADE_COLUMNS} FROM energy_trades ORDER BY seq DESC LIMIT 50"
    rows = fetch(tape)()
    money = {3: ENERGY_PLACES, 4: PRICE_PLACES, 5: MONEY_PLACES, 6: MONEY_PLACES, 7: MONEY_PLACES}
    values = columns(rows, money)
    shown = ", ".join(
        f"printf('%.{places}f', {name})"
        for name, places in zip(
            ("energy_amount", "price_per_kwh", "total_price", "fee", "buyer_total"),
            money.values(),
            strict=True,
        )
    )
    as_sql_text = tape.replace("energy_amount, price_per_kwh, total_price, fee, buyer_total", shown)
    texts = [row[i] for row in fetch(as_sql_text)() for i in money]
    converters = reads.trade_converters("sqlite")
    assert converters is not None
    convert, cold = reads.row_converter(converters), uncached(converters)
    made = [convert(row) for row in rows]
    views = reads.Made(lambda row: book.TradeView.of_values(convert(row)))
    views(rows)
    report(
        "recent trades (50)",
        len(rows),
        {
            "the bare read: cursor, execute, fetchall (floats, text)": fetch(tape),
            "5 Decimals, Decimal(str(v)).quantize(e) (the plain way)": plain(values),
            "5 Decimals, Decimal('%.2f' % v) (reads._exact's miss)": as_text(values),
            "5 Decimals, kept by value (reads._exact's hit)": kept(values),
            "the bare read with SQLite's printf('%.2f') text instead": fetch(as_sql_text),
            "5 Decimals of that text, Decimal(t)": from_sqlite_text(texts),
            "the time, datetime.fromisoformat": lambda: [
                dt.datetime.fromisoformat(row[2]) for row in rows
            ],
            "3 UUIDs from hex (reads._uuid)": lambda: [
                (reads._uuid(row[0]), reads._uuid(row[11]), reads._uuid(row[12])) for row in rows
            ],
            "the view, TradeView.of_values": lambda: [
                book.TradeView.of_values(values) for values in made
            ],
            "a row made in full, nothing kept (the sum of the above)": lambda: [
                book.TradeView.of_values(cold(row)) for row in rows
            ],
            "the bare read, then its rows looked up (reads.Made, kept)": lambda: views(
                fetch(tape)()
            ),
        },
        args.repeat,
    )

    year = dt.date.today() - dt.timedelta(days=364)
    days = f"SELECT {reads.DAY_COLUMNS} FROM market_statistics WHERE date >= ? ORDER BY date"
    rows = fetch(days, (year,))()
    scales = {2: ENERGY_PLACES, 3: ENERGY_PLACES + PRICE_PLACES, 4: PRICE_PLACES}
    values = columns(rows, {**scales, 5: PRICE_PLACES, 6: PRICE_PLACES})
    day_converters = reads.day_converters("sqlite")
    assert day_converters is not None
    convert, cold = reads.row_converter(day_converters), uncached(day_converters)
    made = [convert(row) for row in rows]
    day_views = reads.Made(lambda row: stats.DayStats._make(convert(row)))
    day_views(rows)
    report(
        "stats for 365 days",
        len(rows),
        {
            "the bare read: cursor, execute, fetchall (floats, text)": fetch(days, (year,)),
            "5 Decimals, Decimal(str(v)).quantize(e) (the plain way)": plain(values),
            "5 Decimals, Decimal('%.2f' % v) (reads._exact's miss)": as_text(values),
            "5 Decimals, kept by value (reads._exact's hit)": kept(values),
            "the date, reads._date": lambda: [reads._date(row[0]) for row in rows],
            "the view, tuple.__new__(DayStats, ...) (stats.day_views)": lambda: list(
                map(tuple.__new__, repeat(stats.DayStats), made)
            ),
            "a row made in full, nothing kept (the sum of the above)": lambda: [
                tuple.__new__(stats.DayStats, cold(row)) for row in rows
            ],
            "the bare read, then its rows looked up (reads.Made, kept)": lambda: day_views(
                fetch(days, (year,))()
            ),
        },
        args.repeat,
    )
    database.close()


if __name__ == "__main__":
    main()
