"""Read-side query times on a large market: the book, the tape, the statistics.

    python benchmarks/book.py [--db URL --reset] [--orders 100000] [--trades 1000000]

Fills the database directly (bulk inserts of well-formed rows: resting orders on both
sides of a mid price, trades spread over 365 days, one statistics row per day), then
times each query the screens run, best of several runs.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import parser, prepare
from energy_tui import clock
from energy_tui.db.ids import new_id
from energy_tui.db.models import (
    EnergyOrder,
    EnergyTrade,
    MarketStatistics,
    Prosumer,
    db,
)
from energy_tui.services.market import book as market_book
from energy_tui.services.market import stats

TRADERS = 1000
BATCH = 5000


def fill(orders: int, trades: int, rng: random.Random) -> None:
    now = clock.now()
    Prosumer.insert_many(
        [
            {"address": f"p{i:04d}", "name": f"P {i}", "watt_tokens": Decimal("1000000")}
            for i in range(TRADERS)
        ]
    ).execute()
    rows = []
    for i in range(orders):
        side = "buy" if i % 2 else "sell"
        step = Decimal(rng.randint(1, 3000)) / 10000
        rows.append(
            {
                "id": new_id(),
                "trader_address": f"p{rng.randrange(TRADERS):04d}",
                "order_type": side,
                "energy_amount": Decimal(rng.randint(100, 5000)) / 100,
                "price_per_kwh": Decimal("0.2000") - step
                if side == "buy"
                else Decimal("0.2000") + step,
                "is_active": True,
                "status": "open",
                "created_at": now,
                "updated_at": now,
                "seq": i + 1,
                "expires_at": now + dt.timedelta(days=1),
            }
        )
    _insert(EnergyOrder, rows)
    start = now - dt.timedelta(days=365)
    spacing = dt.timedelta(days=365) / trades
    rows = []
    for i in range(trades):
        amount = Decimal(rng.randint(1, 2000)) / 100
        price = Decimal(rng.randint(1000, 3000)) / 10000
        total = (amount * price).quantize(Decimal("0.01"))
        rows.append(
            {
                "id": new_id(),
                "buyer_address": f"p{rng.randrange(TRADERS):04d}",
                "seller_address": f"p{rng.randrange(TRADERS):04d}",
                "energy_amount": amount,
                "price_per_kwh": price,
                "total_price": total,
                "executed_at": start + spacing * i,
                "fee": Decimal(0),
                "buyer_total": total,
                "taker_side": "buy",
                "seq": i + 1,
            }
        )
        if len(rows) == BATCH:
            _insert(EnergyTrade, rows)
            rows = []
    _insert(EnergyTrade, rows)
    stats.rebuild()


def _insert(model, rows: list[dict]) -> None:
    with db.atomic():
        for i in range(0, len(rows), BATCH):
            model.insert_many(rows[i : i + BATCH]).execute()


def timed(label: str, call, runs: int = 7) -> None:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<38} {best * 1000:8.2f} ms  ({_size(result)})")


def _size(result) -> str:
    if isinstance(result, market_book.Book):
        return f"{len(result.bids)} bid and {len(result.asks)} ask levels"
    return f"{len(result)} rows" if hasattr(result, "__len__") else str(result)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=100_000)
    p.add_argument("--trades", type=int, default=1_000_000)
    args = p.parse_args()
    url, database = prepare(args.db, args.reset)
    t0 = time.perf_counter()
    fill(args.orders, args.trades, random.Random(args.seed))
    print(
        f"backend {url.split(':', 1)[0]}: {EnergyOrder.select().count():,} resting orders, "
        f"{EnergyTrade.select().count():,} trades, "
        f"{MarketStatistics.select().count()} daily rows (filled in "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    now = clock.now()
    timed("change marker (version)", market_book.version)
    timed("book, top 20 levels per side", lambda: market_book.book(20))
    timed("book, top 30 levels per side", lambda: market_book.book(30))
    timed("book, 30 levels with my size on each", lambda: market_book.book(30, "p0001"))
    timed("recent trades (50)", lambda: market_book.trades(market_book.TradeFilter(limit=50)))
    timed(
        "one prosumer's trades (50)",
        lambda: market_book.trades(market_book.TradeFilter(address="p0001", limit=50)),
    )
    timed("stats, 365 daily rows", lambda: stats.daily(365))
    timed("candles, 1 h over the last day", lambda: stats.candles(3600, now - dt.timedelta(days=1)))
    midnight = dt.datetime.combine(now.date(), dt.time())
    timed("candles, 15 min today (book chart)", lambda: stats.candles(900, midnight))
    timed(
        "candles, 1 day over 90 days",
        lambda: stats.candles(86400, now - dt.timedelta(days=90)),
        runs=3,
    )
    database.close()


if __name__ == "__main__":
    main()
