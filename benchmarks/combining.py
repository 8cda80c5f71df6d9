"""PostgreSQL: placements combined (migration 0020) or one call each, 1 and N writers, paired.

    python benchmarks/combining.py --db postgresql://... [--writers 8] [--orders 1000] [--repeat 5]
    python benchmarks/combining.py --db postgresql://... --alone [--orders 2000] [--repeat 4]

The issue's budget compares N writers with 1 writer, and on a shared machine the load
moves between runs made minutes apart. So each round runs the four configurations one
after another (1 and N writers, combined and one call each), in an order that
alternates from round to round, each on a fresh database filled the same way, and the
ratios are taken within each round, then their median reported with the medians of the
rates. The workload is benchmarks/matching.py's.

`--alone`: the combined path with no other writer (`energy_tui_place_first`) must cost
what the direct call costs. Whole runs a minute apart differ by more than that on a
shared machine, so here one writer places the orders combined and direct in turn, order
by order (ABBA), on one database a round: both kinds see the same load and the same
book. Reported per kind: latency, client CPU and statements sent per order; and from the
server, for the round: transactions per order (a statement in autocommit is one) and,
with `track_functions`, the time per call of the placement functions, the wrapper's own
part apart (`self`).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Refused,
    drop_database,
    fresh_database,
    paired_rounds,
    percentile,
    populate,
    server_cpu_text,
    workload,
)
from benchmarks.floor import argument_parser
from benchmarks.matching import AppPlacer, CombinedPlacer, DirectPlacer
from energy_tui.db.models import db

KINDS: dict[str, Any] = {"combined": CombinedPlacer, "direct": DirectPlacer}


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--alone",
        action="store_true",
        help="1 writer only, combined and direct paired, with what the server counted",
    )
    parser.add_argument(
        "--wrapper",
        action="store_true",
        help="with --alone: every combined placement through energy_tui_place_first, "
        "as before a lone writer made the direct call (server.CALM)",
    )
    args = parser.parse_args()
    if not args.db or not args.db.startswith("postgres"):
        raise SystemExit("--db must be a PostgreSQL URL: combining is PostgreSQL's")
    if args.alone:
        alone(args)
        return
    writers = args.writers if args.writers > 1 else 8
    load = workload(args.seed, args.traders, args.resting, args.orders)
    print(
        f"backend postgres, 1 and {writers} writers, {args.orders} orders on a book of "
        f"{args.resting} resting orders, {args.repeat} round(s)"
    )
    figures = paired_rounds(KINDS, writers, load, args.db, args.name, args.repeat)
    print(f"medians of {args.repeat} round(s):")
    for (kind, n), runs in figures.items():
        p50 = statistics.median(percentile(f.latencies, 0.5) for f in runs)
        p99 = statistics.median(percentile(f.latencies, 0.99) for f in runs)
        print(
            f"  {kind:8} {n} writer(s) {statistics.median(f.rate for f in runs):8,.0f} orders/s"
            f"  p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  p99/p50 {p99 / p50:.1f}"
            f"{server_cpu_text(runs)}"
        )

    def paired(a: tuple[str, int], b: tuple[str, int]) -> str:
        ratios = [x.rate / y.rate for x, y in zip(figures[a], figures[b], strict=True)]
        return f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{q:.2f}' for q in ratios)})"

    n = writers
    print("ratios within each round, median:")
    print(
        f"  combined, {n} writers / combined, 1 writer: {paired(('combined', n), ('combined', 1))}"
    )
    print(f"  combined, {n} writers / direct, 1 writer:   {paired(('combined', n), ('direct', 1))}")
    print(f"  direct, {n} writers / direct, 1 writer:     {paired(('direct', n), ('direct', 1))}")
    print(
        f"  combined / direct, {n} writers:              {paired(('combined', n), ('direct', n))}"
    )
    print(f"  combined / direct, 1 writer:                {paired(('combined', 1), ('direct', 1))}")


# the placement functions whose server time --alone reports
FUNCTIONS = ("energy_tui_place_first", "energy_tui_place_order")


def alone(args: Any) -> None:
    """1 writer placing orders combined and direct in turn (ABBA, order by order: both
    see the same load and the same book), a fresh database each round whose server
    counts are reset after it is filled."""
    load = workload(args.seed, args.traders, args.resting, args.orders)
    print(f"backend postgres, 1 writer, {args.orders} orders a round, {args.repeat} round(s)")
    if args.repeat % 2:
        print("  (an odd number of rounds: the kinds did not place the same orders as often)")
    ratios: dict[str, list[float]] = {"mean": [], "p50": [], "cpu": []}
    pooled: dict[str, tuple[list[float], float]] = {kind: ([], 0.0) for kind in KINDS}
    for r in range(args.repeat):
        url = fresh_database(args.db, args.name)
        try:
            _counting(url, "ALTER DATABASE {name} SET track_functions = 'pl'", database=False)
            populate(url, load)
            _counting(url, "SELECT pg_stat_reset()")
            timed = _in_turn(url, load.incoming, r % 2, args.wrapper)
            counts = _server_counts(url, args.orders)
        finally:
            drop_database(url)
        for kind, (latencies, cpu, statements) in timed.items():
            print(
                f"  round {r + 1} {kind:8} mean {statistics.fmean(latencies) * 1e6:6.0f} us  "
                f"p50 {percentile(latencies, 0.5) * 1e6:6.0f} us  "
                f"p99 {percentile(latencies, 0.99) * 1e6:6.0f} us  "
                f"client CPU {cpu / len(latencies) * 1e6:4.0f} us/order  "
                f"statements {statements / len(latencies):.3f}/order"
            )
        print(f"      server: {counts}", flush=True)
        (c_lat, c_cpu, _), (d_lat, d_cpu, _) = timed["combined"], timed["direct"]
        for kind, (latencies, cpu, _) in timed.items():
            pooled[kind] = (pooled[kind][0] + latencies, pooled[kind][1] + cpu)
        ratios["mean"].append(statistics.fmean(c_lat) / statistics.fmean(d_lat))
        ratios["p50"].append(percentile(c_lat, 0.5) / percentile(d_lat, 0.5))
        ratios["cpu"].append(c_cpu / d_cpu)
    print("combined / direct, 1 writer (cost per order; below 1.00: combined costs less):")
    (c_all, c_cpu_all), (d_all, d_cpu_all) = pooled["combined"], pooled["direct"]
    every = {
        "mean": statistics.fmean(c_all) / statistics.fmean(d_all),
        "p50": percentile(c_all, 0.5) / percentile(d_all, 0.5),
        "cpu": (c_cpu_all / len(c_all)) / (d_cpu_all / len(d_all)),
    }
    for name, values in ratios.items():
        rounds = ", ".join(f"{v:.3f}" for v in values)
        print(
            f"  {name:5} {every[name]:.3f}x over all rounds' orders together; "
            f"median of the rounds {statistics.median(values):.3f}x (rounds: {rounds})"
        )


def _in_turn(
    url: str, jobs: list[Any], flip: int, wrapper: bool
) -> dict[str, tuple[list[float], float, int]]:
    """Place `jobs` from this process, combined and direct in turn: per kind the
    latencies, the client CPU and the statements sent. The orders differ (some trade,
    some are refused): `flip` gives each kind the other's orders, so that over an even
    number of rounds each kind placed every order once. `wrapper`: no direct call for
    a writer alone (`server.CALM` out of reach), as before it had one."""
    from energy_tui.services.market import server

    if wrapper:
        server.CALM = len(jobs) + 1
    placer = AppPlacer(url)
    database = db.obj
    sent = {"n": 0}
    execute = database.execute_sql

    def counted(*a: Any, **k: Any) -> Any:
        sent["n"] += 1
        return execute(*a, **k)

    database.execute_sql = counted
    figures: dict[str, tuple[list[float], float, int]] = {k: ([], 0.0, 0) for k in KINDS}
    try:
        for i, job in enumerate(jobs):
            kind = ("combined", "direct")[(i + i // 2 + flip) % 2]  # ABBA
            server.COMBINED = kind == "combined"
            before, cpu0, t0 = sent["n"], time.process_time(), time.perf_counter()
            with contextlib.suppress(Refused):  # refused by the rules: timed all the same
                placer.place(job)
            latency, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            latencies, total_cpu, statements = figures[kind]
            latencies.append(latency)
            figures[kind] = (latencies, total_cpu + cpu, statements + sent["n"] - before)
    finally:
        placer.close()
        database.close_all()  # its session ends, reporting its counts to the server
    return figures


def _counting(url: str, sql: str, database: bool = True) -> list[Any]:
    import psycopg

    from energy_tui.db.urls import parse_url

    p = parse_url(url)
    with psycopg.connect(
        host=p.host, port=p.port, user=p.user or None, password=p.password or None,
        dbname=p.name if database else "postgres", autocommit=True,
    ) as conn:  # fmt: skip
        cursor = conn.execute(sql.format(name=p.name))
        return cursor.fetchall() if cursor.description else []


def _server_counts(url: str, orders: int) -> str:
    """What the server counted for the run: transactions per order, and per call of
    each placement function its time in all and its own (the wrapper's) part."""
    time.sleep(1)  # the writers' sessions report their counts as they end
    ((done,),) = _counting(
        url,
        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
        "WHERE datname = current_database()",
    )
    functions = _counting(
        url,
        "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
        f"WHERE funcname IN {FUNCTIONS!r} ORDER BY funcname",
    )
    timed = "; ".join(
        f"{name} {n} calls, {total * 1000 / n:.0f} us each ({own * 1000 / n:.0f} us self)"
        for name, n, total, own in functions
        if n
    )
    # `done` counts a few of the sessions' own too (connecting, the reset): the same for both
    return f"transactions {done} ({done / orders:.3f} per order); {timed}"


if __name__ == "__main__":
    main()
