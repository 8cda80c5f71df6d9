"""One amendment's client statements and time: the Python path against PostgreSQL's
`energy_tui_amend_order` (migration 0017), in the same run.

A fresh database (`--db`, a PostgreSQL URL; the database `bench_amend` on its server is
dropped and created) gets a resting book; then each round amends --amends resting
orders through one path, alternating the paths over --repeat rounds: half lower the
amount by 0.01 kWh (keeps priority), half move the price 0.0001 away from the mid,
confirmed (loses priority, crosses nothing). It prints, per path, the median over the
rounds of the statements the client sent per amendment (`Database.execute_sql`;
the Python path's BEGIN and COMMIT come on top) and of p50 wall time, and their ratio.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

from benchmarks._common import actor_of, drop_database, fresh_database, populate, workload
from energy_tui.db.connect import open_database
from energy_tui.db.models import EnergyOrder, db
from energy_tui.db.urls import parse_url
from energy_tui.services.market import amend_order, server


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="a PostgreSQL URL")
    p.add_argument("--amends", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    url = fresh_database(args.db, "bench_amend")
    populate(url, workload(7, traders=8, resting=400, orders=0))
    database = open_database(parse_url(url), pool_size=1, timeout=60)
    db.initialize(database)
    database.connect()
    sent = [0]
    execute = database.execute_sql

    def counted(sql: str, *a: Any, **k: Any) -> Any:
        sent[0] += 1
        return execute(sql, *a, **k)

    database.execute_sql = counted
    rows = list(EnergyOrder.select().where(EnergyOrder.is_active).order_by(EnergyOrder.seq))
    figures: dict[str, list[tuple[float, float]]] = {"python": [], "function": []}
    step = 0
    for _ in range(args.repeat):
        for label in ("python", "function"):
            server.ENABLED = label == "function"
            times, statements = [], []
            for _ in range(args.amends):
                row = rows[step % len(rows)]
                step += 1
                actor = actor_of(row.trader_address)
                if step % 2:
                    current = EnergyOrder.get_by_id(row.id).energy_amount
                    sent[0] = 0
                    t0 = time.perf_counter()
                    amend_order(actor, row.id, amount=current - Decimal("0.01"))
                else:
                    move = Decimal("-0.0001") if row.order_type == "buy" else Decimal("0.0001")
                    current = EnergyOrder.get_by_id(row.id).price_per_kwh
                    sent[0] = 0
                    t0 = time.perf_counter()
                    amend_order(actor, row.id, price=current + move, confirmed=True)
                times.append(time.perf_counter() - t0)
                statements.append(sent[0])
            figures[label].append((statistics.median(times), statistics.fmean(statements)))
    database.close()
    drop_database(url)
    py_t = statistics.median(t for t, _ in figures["python"])
    fn_t = statistics.median(t for t, _ in figures["function"])
    py_s = statistics.median(s for _, s in figures["python"])
    fn_s = statistics.median(s for _, s in figures["function"])
    print(f"medians of {args.repeat} alternating round(s) of {args.amends} amendments:")
    print(f"  python path : {py_s:.1f} statements, p50 {py_t * 1000:.3f} ms")
    print(f"  function    : {fn_s:.1f} statements, p50 {fn_t * 1000:.3f} ms")
    print(f"  function / python: time {fn_t / py_t:.2f}x, statements {fn_s / py_s:.2f}x")


if __name__ == "__main__":
    main()
