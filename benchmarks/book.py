"""Read-side query times on a large market: the book, the tape, history, statistics.

    python benchmarks/book.py [--db URL --reset] [--orders 100000]
                              [--trades 1000000[,5000000]] [--runs 5] [--use URL]

Fills the database directly (bulk inserts of well-formed rows through the bare driver,
in batches below every backend's parameter limit, COPY on PostgreSQL: resting orders
on both sides of a mid price, trades spread over the 365 days before now, then
`stats rebuild`), and times each read the screens and the CLI run (median of --runs,
after one warm-up run). With several --trades sizes the same market grows from one to
the next (the first size's trades are every k-th of the last size's, so both spread
over the same year) and each figure is printed with its ratio to the first size's.
"raw" is the same SQL through the bare driver, timed in the same run: the machine may
be loaded by others, so the ratios are what to read.

--use URL times an existing database filled by this script, migrating it first (how
migrations 0010 and 0011 were timed on a database filled by the code before them).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import parser, prepare
from energy_tui import clock
from energy_tui.db import migrations
from energy_tui.db.connect import backend_of, open_database
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES, PRICE_PLACES
from energy_tui.db.models import EnergyOrder, EnergyTrade, Prosumer, db
from energy_tui.db.urls import parse_url
from energy_tui.services.market import book as market_book
from energy_tui.services.market import reads, stats

TRADERS = 1000
WHO = "p0001"
DAYS = 365
# Prices a market could hold: resting orders up to 15% either side of the mid, the tape
# swinging up to 12% around it over the year and ending at it (within 1%), so every
# order lies within the default fat-finger band (20%) of the reference price (the last
# trade) and every price is above 0. It used to spread orders 0.3 WATT either side of
# 0.2: a third of the bids (about 16,800 of 100,000 orders) at 0 or below.
MID = Decimal("0.2000")
ORDER_STEPS = 300  # price steps of 0.0001 either side of the mid: 0.1700 to 0.2300
TAPE_SWING = 0.12  # of the mid
TAPE_CYCLES = 6  # swings over the year
TAPE_NOISE = 20  # price steps
ORDER_COLUMNS = (
    "id, trader_address, order_type, energy_amount, price_per_kwh, is_active, created_at, "
    "filled_amount, status, time_in_force, expires_at, updated_at, watt_reserved, seq, kind, "
    "placed_seq"
)
TRADE_COLUMNS = (
    "id, buyer_address, seller_address, energy_amount, price_per_kwh, total_price, "
    "executed_at, fee, buyer_total, taker_side, seq"
)
PARAMETER_BUDGET = 60_000  # PostgreSQL allows 65,535 parameters per statement


# --- filling -------------------------------------------------------------------------


def fill_orders(orders: int, rng: random.Random, now: dt.datetime) -> None:
    Prosumer.insert_many(
        [
            {"address": f"p{i:04d}", "name": f"P {i}", "watt_tokens": Decimal("1000000")}
            for i in range(TRADERS)
        ]
    ).execute()

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(orders):
            side = "buy" if i % 2 else "sell"
            step = Decimal(rng.randint(1, ORDER_STEPS)) / 10000
            price = MID - step if side == "buy" else MID + step
            amount = Decimal(rng.randint(100, 5000)) / 100
            yield (
                uuid.uuid4(),
                f"p{rng.randrange(TRADERS):04d}",
                side,
                amount,
                price,
                True,
                now,
                Decimal("0.00"),
                "open",
                "gtc",
                now + dt.timedelta(days=1),
                now,
                Decimal("0.00"),
                i + 1,
                "limit",
                i + 1,
            )

    bulk_insert("energy_orders", ORDER_COLUMNS, rows())


def fill_trades(total: int, every: int, phase: int, rng: random.Random, now: dt.datetime) -> None:
    """Insert trade i of `total` (over the last DAYS days) where i % every is in `phase`
    (a range of residues): the first size takes residue 0, growing takes the rest."""
    start = now - dt.timedelta(days=DAYS)
    spacing = dt.timedelta(days=DAYS) / total

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(total):
            if i % every not in phase_set:
                continue
            amount = Decimal(rng.randint(1, 2000)) / 100
            price = _tape_price(i, total, rng)
            total_price = (amount * price).quantize(Decimal("0.01"))
            yield (
                uuid.uuid4(),
                f"p{rng.randrange(TRADERS):04d}",
                f"p{rng.randrange(TRADERS):04d}",
                amount,
                price,
                total_price,
                start + spacing * i,
                Decimal("0.00"),
                total_price,
                "buy",
                i + 1,
            )

    phase_set = {0} if phase == 0 else set(range(1, every))
    bulk_insert("energy_trades", TRADE_COLUMNS, rows())
    last = total  # seq of the newest trade: the market's counters continue from there
    db.execute_sql(
        f"UPDATE market_state SET trade_seq = {db.param}, order_seq = {db.param} WHERE id = 1",
        (last, last),
    )


def _tape_price(i: int, total: int, rng: random.Random) -> Decimal:
    """Trade i's price: a swing around the mid that comes back to it at the newest
    trade, with some noise."""
    swing = TAPE_SWING * math.sin(2 * math.pi * TAPE_CYCLES * (i + 1 - total) / total)
    steps = round(float(MID) * swing * 10000) + rng.randint(-TAPE_NOISE, TAPE_NOISE)
    return MID + Decimal(steps) / 10000


def bulk_insert(table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    """Through the bare driver: COPY on PostgreSQL, else multi-row INSERTs in batches
    that stay below every backend's parameter limit."""
    backend = backend_of(db)
    connection = db.connection()
    width = len(columns.split(","))
    if backend == "postgres":
        copying = f"COPY {table} ({columns}) FROM STDIN"
        with db.atomic(), connection.cursor() as cursor, cursor.copy(copying) as copy:
            for row in rows:
                copy.write_row(row)
        return
    batch = min(5000, PARAMETER_BUDGET // width)
    p = "?" if backend == "sqlite" else "%s"
    one = f"({', '.join([p] * width)})"
    with db.atomic():
        cursor = connection.cursor()
        chunk: list[Any] = []
        for row in rows:
            chunk.append(_plain(row, backend))
            if len(chunk) == batch:
                _insert(cursor, table, columns, one, chunk)
                chunk = []
        if chunk:
            _insert(cursor, table, columns, one, chunk)


def _insert(cursor: Any, table: str, columns: str, one: str, chunk: list[Any]) -> None:
    values = ", ".join([one] * len(chunk))
    params = [value for row in chunk for value in row]
    cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", params)


def _plain(row: tuple[Any, ...], backend: str) -> tuple[Any, ...]:
    """Values as the models store them: UUIDs as hex, and on SQLite decimals and
    times as text."""
    out = []
    for value in row:
        if isinstance(value, uuid.UUID):
            value = value.hex
        elif backend == "sqlite" and isinstance(value, Decimal | dt.datetime):
            value = str(value)
        out.append(value)
    return tuple(out)


def fill(orders: int, trades: int, rng: random.Random) -> None:
    """The whole market at once (benchmarks/tui.py fills its file with this)."""
    now = clock.now()
    fill_orders(orders, rng, now)
    fill_trades(trades, 1, 0, rng, now)
    stats.rebuild()


def analyze() -> None:
    """Planner statistics after a bulk load, as autovacuum would gather them later:
    without them PostgreSQL may pick a poor plan for the book (180 ms instead of 2)."""
    backend = backend_of(db)
    if backend == "postgres":
        db.execute_sql("ANALYZE")
    elif backend == "mysql":
        db.execute_sql("ANALYZE TABLE energy_orders, energy_trades, market_statistics")


# --- timing --------------------------------------------------------------------------


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm-up: caches, prepared plans
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def raw(sql: str, params: tuple[Any, ...] = ()) -> Callable[[], object]:
    """The statement through the bare driver's cursor, every row fetched."""
    sql = sql.replace("?", db.param)

    def run() -> object:
        cursor = db.connection().cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.close()
        return rows

    return run


def exact_raw(
    sql: str, params: tuple[Any, ...], made: dict[int, Callable[[Any], Any]]
) -> Callable[[], object]:
    """`raw`, and on SQLite each value the screens show made what they show: its REALs
    as exact Decimals at the column's scale, its text times as datetimes (`made`:
    column -> how), in a plain loop. SQLite has no exact decimal: the bare driver's
    floats are not the values a screen may show, so this is the honest floor of such
    a read there. PostgreSQL's and MySQL's drivers hand back Decimals and datetimes
    already: `raw` as it is. Ids are left as the driver gives them (no screen shows
    them), so the floor is the lower for it."""
    bare = raw(sql, params)
    return bare if backend_of(db) != "sqlite" else ExactRaw(bare, tuple(made.items()))


class ExactRaw:
    """`exact_raw` on SQLite: the bare read, then each shown value made exact."""

    def __init__(self, bare: Callable[[], Any], plan: tuple[tuple[int, Callable], ...]) -> None:
        self.bare, self.plan = bare, plan

    def __call__(self) -> object:
        rows = []
        for row in self.bare():
            values = list(row)
            for i, how in self.plan:
                values[i] = how(values[i])
            rows.append(values)
        return rows


def exactly(places: int) -> Callable[[Any], Decimal]:
    exponent = Decimal(1).scaleb(-places)
    return lambda value: Decimal(str(value)).quantize(exponent)


def raw_together(*calls: Callable[[], object]) -> Callable[[], object]:
    return lambda: [call() for call in calls]


def figures(runs: int) -> dict[str, tuple[float, ...]]:
    """name -> (ms,) or (ms, raw ms) or, on SQLite, (ms, raw exact ms, raw floats ms)."""
    now = clock.now()
    p = "?"
    last_day = now - dt.timedelta(days=1)
    since_90 = (now - dt.timedelta(days=89)).replace(hour=0, minute=0, second=0, microsecond=0)
    year = now.date() - dt.timedelta(days=364)
    mine = market_book.TradeFilter(address=WHO, limit=50)
    backend = reads.backend()  # the tape's raw SQL: the very text the read runs
    kwh, price, money = exactly(ENERGY_PLACES), exactly(PRICE_PLACES), exactly(MONEY_PLACES)
    book_raw = raw_together(
        raw(
            "SELECT price_per_kwh, SUM(energy_amount - filled_amount), COUNT(id) "
            f"FROM energy_orders WHERE is_active = {p} AND order_type = 'buy' "
            f"AND (expires_at IS NULL OR expires_at > {p}) GROUP BY price_per_kwh "
            "ORDER BY price_per_kwh DESC LIMIT 20",
            (True, now),
        ),
        raw(
            "SELECT price_per_kwh, SUM(energy_amount - filled_amount), COUNT(id) "
            f"FROM energy_orders WHERE is_active = {p} AND order_type = 'sell' "
            f"AND (expires_at IS NULL OR expires_at > {p}) GROUP BY price_per_kwh "
            "ORDER BY price_per_kwh ASC LIMIT 20",
            (True, now),
        ),
        raw("SELECT price_per_kwh FROM energy_trades ORDER BY seq DESC LIMIT 2"),
        raw("SELECT version FROM market_state WHERE id = 1"),
    )
    cases: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        ("change marker (version)", market_book.version, None),
        ("book snapshot, 20 levels a side", lambda: market_book.book(20), book_raw),
        (
            "recent trades (50)",
            lambda: market_book.trades(market_book.TradeFilter(limit=50)),
            exact_raw(
                reads.trades_statement(backend, None, False, False, False, 50),
                (),
                {2: dt.datetime.fromisoformat, 3: kwh, 4: price, 5: money, 6: money, 7: money},
            ),
        ),
        (
            "one prosumer's trades (50 newest)",
            lambda: market_book.trades(mine),
            raw(reads.trades_statement(backend, "both", False, False, False, 50), (WHO, WHO)),
        ),
        (
            "one prosumer's buys in a week (50)",
            lambda: market_book.trades(
                market_book.TradeFilter(
                    address=WHO, side="buy", since=now - dt.timedelta(days=7), limit=50
                )
            ),
            None,
        ),
        ("my open orders", lambda: market_book.open_orders(WHO), None),
        (
            "my orders, all (100)",
            lambda: market_book.orders(WHO, include_closed=True, limit=100),
            None,
        ),
        (
            "stats for 365 days",
            lambda: stats.daily(365, now.date()),
            exact_raw(
                f"SELECT {reads.DAY_COLUMNS} FROM market_statistics WHERE date >= {p} "
                "ORDER BY date",
                (year,),
                {0: dt.date.fromisoformat, 2: kwh, 3: exactly(6), 4: price, 5: price, 6: price},
            ),
        ),
        (
            "book, 30 levels with my size on each",
            lambda: market_book.book(30, WHO),
            None,
        ),
        ("hourly candles of the last day", lambda: stats.candles(3600, last_day), None),
        (
            "15 min candles today (book chart)",
            lambda: stats.candles(900, dt.datetime.combine(now.date(), dt.time())),
            None,
        ),
        ("daily candles over 90 days", lambda: stats.candles(86400, since_90), None),
    ]
    for name, call, raw_call in list(cases):  # the same read with nothing kept
        if isinstance(raw_call, ExactRaw) or name == "recent trades (50)":
            cases.append((f"{name}, first read", first_read(call), raw_call))
    result: dict[str, tuple[float, ...]] = {}
    for name, call, raw_call in cases:
        if raw_call is None:
            result[name] = (median_ms(call, runs),)
        elif isinstance(raw_call, ExactRaw):  # SQLite: the bare driver's floats too
            result[name] = paired_ms(runs, call, raw_call, raw_call.bare)
        else:
            result[name] = paired_ms(runs, call, raw_call)
    return result


def first_read(call: Callable[[], object]) -> Callable[[], object]:
    """`call` with nothing the reads keep (`reads.forget`): every row made anew, as on
    a screen's first read or after the rows it showed all changed."""

    def run() -> object:
        reads.forget()
        return call()

    return run


def paired_ms(runs: int, *calls: Callable[[], object]) -> tuple[float, ...]:
    """Medians of each of `calls` (ours, then its raw floors) timed in turn, round after
    round (a load that comes and goes touches them alike)."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for timed_call, taken in zip(calls, times, strict=True):
            t0 = time.perf_counter()
            timed_call()
            taken.append(time.perf_counter() - t0)
    return tuple(statistics.median(taken) * 1000 for taken in times)


def print_figures(
    label: str,
    found: dict[str, tuple[float, ...]],
    first: dict[str, tuple[float, ...]] | None,
) -> None:
    """One line a read: ms; the raw SQL's ms (on SQLite with the plainest exact
    conversion of what the screens show) and the ratio to it; on SQLite the bare
    driver's floats' ms and the ratio to them; the ratio to the first size's ms."""
    print(f"\n{label}")
    print(
        f"  {'read':<44} {'ms':>8} {'raw ms':>8} {'x raw':>6} "
        f"{'floats':>8} {'x float':>7} {'x first':>8}"
    )
    for name, (ms, *floors) in found.items():
        widths = (6, 7)
        cells = [
            f"{floor:8.3f} {ms / floor:{w}.2f}"
            for floor, w in zip(floors, widths[: len(floors)], strict=True)
        ]
        cells += [f"{'-':>8} {'-':>{w}}" for w in widths[len(floors) :]]
        grow = f"{ms / first[name][0]:8.2f}" if first and name in first else f"{'-':>8}"
        print(f"  {name:<44} {ms:8.3f} {' '.join(cells)} {grow}")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=100_000)
    p.add_argument("--trades", default="1000000", help="N, or N1,N2 to grow (at most 5M)")
    p.add_argument("--runs", type=int, default=5, help="median of this many runs")
    p.add_argument("--use", metavar="URL", help="time this database (filled by this script)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args()
    sizes = [int(n) for n in args.trades.split(",")]
    if len(sizes) > 2 or sizes[-1] % sizes[0] or max(sizes) > 5_000_000:
        raise SystemExit("--trades: N or N1,N2 with N2 a multiple of N1, at most 5,000,000")
    if args.use:
        database = open_database(parse_url(args.use), pool_size=2, timeout=60)
        db.initialize(database)
        database.connect()
        t0 = time.perf_counter()
        applied = migrations.migrate(database)
        print(f"migrated {[s.name for s in applied]} in {time.perf_counter() - t0:.1f} s")
        url = args.use
    else:
        url, database = prepare(args.db, args.reset)
    backend = url.split(":", 1)[0]
    print(f"machine shared with other work: read the ratios, measured in this run ({backend})")
    results: dict[str, Any] = {}
    first = None
    if not args.use:
        rng = random.Random(args.seed)
        now = clock.now()
        t0 = time.perf_counter()
        fill_orders(args.orders, rng, now)
        print(f"filled {args.orders:,} resting orders in {time.perf_counter() - t0:.0f} s")
    for k, _size in enumerate(sizes if not args.use else [0]):
        if not args.use:
            t0 = time.perf_counter()
            every = sizes[-1] // sizes[0]
            fill_trades(sizes[-1], every, 0 if k == 0 else 1, rng, now)
            filled = time.perf_counter() - t0
            t0 = time.perf_counter()
            stats.rebuild()
            analyze()
            print(
                f"{EnergyTrade.select().count():,} trades: inserted in {filled:.0f} s, "
                f"statistics rebuilt in {time.perf_counter() - t0:.0f} s"
            )
        found = figures(args.runs)
        count = EnergyTrade.select().count()
        label = (
            f"{backend}: {EnergyOrder.select().count():,} orders, {count:,} trades "
            f"(median of {args.runs})"
        )
        print_figures(label, found, first)
        first = first or found
        results[str(count)] = found
    if args.json:
        Path(args.json).write_text(json.dumps({backend: results}, indent=1))
    database.close()


if __name__ == "__main__":
    main()
