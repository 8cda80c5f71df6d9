"""The raw-driver floor of matching: the fewest statements a matcher needs.

    python benchmarks/floor.py [--db URL] [--writers 1] [--orders 3000] [--repeat 1]

The same workload as benchmarks/matching.py (the same traders, resting book and
incoming orders, from the same seed), placed with the bare driver (sqlite3, psycopg 3,
PyMySQL) and none of energy-tui: each order its own transaction that takes the market
lock (BEGIN IMMEDIATE on SQLite, the `market_state` row FOR UPDATE elsewhere), reads the
trader's balances with its self-cross check in one statement, reads up to 8 makers at a
time, and per fill updates the maker, inserts the trade and moves the counterpart's
balances with one relative UPDATE; then the grid fee, the order, the trader and the
state row, and COMMIT. No audit entries, no statistics, no ORM, Decimal arithmetic only
where money is computed. It is what energy-tui's figures are divided by.

On a server URL, the database named `bench_scale` (or --name) is created on that server
for the run and dropped after it.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Job,
    Placer,
    Refused,
    RunFigures,
    alternate,
    drop_database,
    fresh_database,
    median_figures,
    populate,
    run_writers,
    server_pid,
    workload,
)
from energy_tui.db.urls import parse_url

CENT = Decimal("0.01")
BATCH = 8
GRID = "grid-operator"
ORDER_COLUMNS = (
    "id, trader_address, order_type, energy_amount, price_per_kwh, filled_amount, watt_reserved"
)


def _d(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class FloorPlacer(Placer):
    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        self.backend = parsed.backend
        self.p = "?" if self.backend == "sqlite" else "%s"
        lock = "" if self.backend == "sqlite" else " FOR UPDATE"
        p = self.p
        if self.backend == "sqlite":
            import sqlite3

            # as Peewee does: Decimals (and datetimes) bound as text
            sqlite3.register_adapter(Decimal, str)
            sqlite3.register_adapter(dt.datetime, str)
            self.conn: Any = sqlite3.connect(parsed.path, isolation_level=None, timeout=60)
            self.conn.execute("PRAGMA journal_mode=wal")
            self.conn.execute("PRAGMA synchronous=normal")
            self.conn.execute("PRAGMA foreign_keys=1")
        elif self.backend == "postgres":
            import psycopg

            self.conn = psycopg.connect(
                host=parsed.host, port=parsed.port, user=parsed.user or None,
                password=parsed.password or None, dbname=parsed.name,
            )  # fmt: skip
            self.server_pid = server_pid(self.conn)
        else:
            import pymysql  # type: ignore[import-untyped]

            self.conn = pymysql.connect(
                host=parsed.host, port=parsed.port, user=parsed.user or None,
                password=parsed.password or "", database=parsed.name,
            )  # fmt: skip
            with self.conn.cursor() as c:
                c.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self.cur = self.conn.cursor()
        crossing = (
            f"FROM energy_orders WHERE is_active = {p} AND order_type = {p} AND price_per_kwh"
        )
        self.sql_lock = (
            f"SELECT order_seq, trade_seq, open_buy_orders, open_sell_orders, grid_fee_rate "
            f"FROM market_state WHERE id = 1{lock}"
        )
        accounts = (
            "watt_tokens, watt_reserved, energy_generated, energy_consumed, energy_bought, "
            "energy_sold, energy_reserved"
        )
        self.sql_trader = {
            side: f"SELECT {accounts}, (SELECT {agg}(price_per_kwh) {crossing} {op} {p} "
            f"AND trader_address = {p}) FROM prosumers WHERE address = {p}{lock}"
            for side, agg, op in (("buy", "MIN", "<="), ("sell", "MAX", ">="))
        }
        self.sql_makers = {
            "buy": f"SELECT {ORDER_COLUMNS} {crossing} <= {p} "
            f"ORDER BY price_per_kwh ASC, seq ASC LIMIT {p}",
            "sell": f"SELECT {ORDER_COLUMNS} {crossing} >= {p} "
            f"ORDER BY price_per_kwh DESC, seq ASC LIMIT {p}",
        }
        self.sql_maker = (
            f"UPDATE energy_orders SET filled_amount = {p}, watt_reserved = {p}, updated_at = {p}, "
            f"status = {p}, is_active = {p} WHERE id = {p}"
        )
        self.sql_trade = (
            "INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address, "
            "seller_address, energy_amount, price_per_kwh, total_price, executed_at, fee, "
            f"buyer_total, taker_side, seq) VALUES ({', '.join([p] * 13)})"
        )
        self.sql_move = (
            f"UPDATE prosumers SET watt_tokens = watt_tokens + {p}, "
            f"watt_reserved = watt_reserved + {p}, "
            f"energy_bought = energy_bought + {p}, energy_sold = energy_sold + {p}, "
            f"energy_reserved = energy_reserved + {p}, updated_at = {p} WHERE address = {p}"
        )
        self.sql_order = (
            "INSERT INTO energy_orders (id, trader_address, order_type, energy_amount, "
            "price_per_kwh, is_active, created_at, filled_amount, status, time_in_force, "
            "expires_at, updated_at, watt_reserved, seq, kind, placed_seq) "
            f"VALUES ({', '.join([p] * 16)})"
        )
        self.sql_state = (
            f"UPDATE market_state SET order_seq = {p}, trade_seq = {p}, version = version + 1, "
            f"open_buy_orders = {p}, open_sell_orders = {p}, updated_at = {p} WHERE id = 1"
        )

    def ex(self, sql: str, *params: Any) -> None:
        self.cur.execute(sql, params)

    def place(self, job: Job) -> int:
        try:
            return self._place(job)
        except Refused:
            self.conn.rollback() if self.backend != "sqlite" else self.cur.execute("ROLLBACK")
            raise

    def _place(self, job: Job) -> int:
        ex, cur = self.ex, self.cur
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        t0 = time.perf_counter()
        if self.backend == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        ex(self.sql_lock)
        order_seq, trade_seq, open_buys, open_sells, fee_rate = cur.fetchone()
        self.lock_wait += time.perf_counter() - t0
        fee_rate = _d(fee_rate)
        other = "sell" if job.side == "buy" else "buy"
        ex(self.sql_trader[job.side], True, other, job.price, job.address, job.address)
        row = cur.fetchone()
        if row[7] is not None:
            raise Refused
        tokens, reserved, generated, consumed, bought, sold, e_reserved = map(_d, row[:7])

        def cost(amount: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
            total = max(CENT, (amount * price).quantize(CENT, ROUND_HALF_EVEN))
            return total, (total * fee_rate).quantize(CENT, ROUND_CEILING)

        if job.side == "buy":
            total, fee = cost(job.amount, job.price)
            hold = total + fee
            if hold > tokens - reserved:
                raise Refused
        else:
            hold = Decimal(0)
            if job.amount > generated - consumed + bought - sold - e_reserved:
                raise Refused
        oid = uuid.uuid4()
        order_seq += 1
        filled, fees, trades = Decimal(0), Decimal(0), 0
        fills: list[tuple[Any, ...]] = []  # inserted after the order they refer to
        paid = Decimal(0)  # the taker's WATT moved (buy: spent; sell: received)
        while filled < job.amount:
            ex(self.sql_makers[job.side], True, other, job.price, BATCH)
            makers = cur.fetchall()
            if not makers:
                break
            for mid, maddr, _mside, mamount, mprice, mfilled, mreserved in makers:
                mprice, mleft = _d(mprice), _d(mamount) - _d(mfilled)
                amount = min(job.amount - filled, mleft)
                total, fee = cost(amount, mprice)
                filled += amount
                fees += fee
                trade_seq += 1
                mfilled = _d(mfilled) + amount
                done = mfilled == _d(mamount)
                if job.side == "buy":  # the maker sells
                    paid += total + fee
                    new_reserved = Decimal(0)
                    ex(self.sql_move, total, 0, 0, amount, -amount, now, maddr)
                    buy, sell, buyer, seller = oid.hex, mid, job.address, maddr
                else:  # the maker buys and pays from its hold
                    paid += total
                    mreserved = _d(mreserved)
                    new_reserved = Decimal(0) if done else max(Decimal(0), mreserved - total - fee)
                    ex(
                        self.sql_move,
                        -(total + fee),
                        new_reserved - mreserved,
                        amount,
                        0,
                        0,
                        now,
                        maddr,
                    )
                    buy, sell, buyer, seller = mid, oid.hex, maddr, job.address
                if done:
                    if job.side == "buy":
                        open_sells -= 1
                    else:
                        open_buys -= 1
                ex(
                    self.sql_maker,
                    mfilled,
                    new_reserved,
                    now,
                    "filled" if done else "partially_filled",
                    not done,
                    mid,
                )
                fills.append((
                    uuid.uuid4().hex, _hex(buy), _hex(sell), buyer, seller,
                    amount, mprice, total, now, fee, total + fee, job.side, trade_seq,
                ))  # fmt: skip
                trades += 1
                if filled == job.amount:
                    break
        if fees:
            ex(self.sql_move, fees, 0, 0, 0, 0, now, GRID)
        resting = filled < job.amount
        if resting:
            if job.side == "buy":
                open_buys += 1
            else:
                open_sells += 1
        rest_hold = Decimal(0)
        if job.side == "buy":
            if resting:
                rest_hold = sum(cost(job.amount - filled, job.price), Decimal(0))
            ex(self.sql_move, -paid, rest_hold, filled, 0, 0, now, job.address)
        else:
            ex(self.sql_move, paid, 0, 0, filled, job.amount - filled, now, job.address)
        status = "filled" if not resting else ("partially_filled" if filled else "open")
        ex(
            self.sql_order, oid.hex, job.address, job.side, job.amount, job.price, resting, now,
            filled, status, "gtc", None, now, rest_hold, order_seq, "limit", order_seq,
        )  # fmt: skip
        for fill in fills:
            ex(self.sql_trade, *fill)
        ex(self.sql_state, order_seq, trade_seq, open_buys, open_sells, now)
        if self.backend == "sqlite":
            cur.execute("COMMIT")
        else:
            self.conn.commit()
        return trades

    def close(self) -> None:
        self.conn.close()


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "")


def measure(kind_makers: dict[str, Any], args: Any) -> dict[str, list[RunFigures]]:
    """Each kind's figures over --repeat rounds, alternating which goes first, each on
    a fresh database filled the same way."""
    load = workload(args.seed, args.traders, args.resting, args.orders)
    figures: dict[str, list[RunFigures]] = {kind: [] for kind in kind_makers}
    for r, kind in alternate(args.repeat, list(kind_makers)):
        url = fresh_database(args.db, args.name)
        try:
            populate(url, load)
            run = run_writers(kind_makers[kind], url, load.incoming, args.writers)
        finally:
            drop_database(url)
        figures[kind].append(run)
        print(f"  round {r + 1} {kind:10} {run.line()}", flush=True)
    return figures


def arguments(description: str) -> Any:
    return argument_parser(description).parse_args()


def argument_parser(description: str) -> Any:
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", help="database URL (default: a new SQLite file in a temp dir)")
    p.add_argument("--name", default="bench_scale", help="database made on a server URL")
    p.add_argument("--writers", type=int, default=1, help="processes placing at once")
    p.add_argument("--orders", type=int, default=3000, help="timed orders, all writers together")
    p.add_argument("--resting", type=int, default=1000)
    p.add_argument("--traders", type=int, default=200)
    p.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    p.add_argument("--seed", type=int, default=7)
    return p


def banner(args: Any) -> str:
    backend = parse_url(args.db).backend if args.db else "sqlite"
    return (
        f"backend {backend}, {args.writers} writer(s), {args.orders} orders on a book of "
        f"{args.resting} resting orders, {args.traders} traders, {args.repeat} round(s)"
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    print(banner(args))
    figures = measure({"floor": FloorPlacer}, args)
    m = median_figures(figures["floor"])
    print(
        f"floor (median): {m['rate']:,.0f} orders/s, p50 {m['p50'] * 1000:.2f} ms, "
        f"p99 {m['p99'] * 1000:.2f} ms, lock wait {m['lock']:.1%}, "
        f"client CPU {m['cpu'] * 1e6:.0f} us/order"
    )


if __name__ == "__main__":
    main()
