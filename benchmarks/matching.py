"""Matching throughput with N traders at once, against the raw-driver floor of the same run.

    python benchmarks/matching.py [--db URL] [--writers 1] [--orders 3000] [--repeat 3]

`--writers` processes place the same workload at once (order i by writer i mod N), each
order its own transaction through `market.place_order`, on a book prepared with resting
orders on both sides around a mid price; incoming prices straddle the mid so that about
half of them trade. benchmarks/floor.py's raw-driver matcher places the same workload in
the same run; the two alternate over --repeat rounds, each on a fresh database, and the
medians are compared. Reported: aggregate orders/s, p50/p99 latency per order, the share
of the writers' time spent taking the market lock (SQLite: BEGIN IMMEDIATE; MySQL: the
round trip that locks `market_state` and brings the first reads; PostgreSQL: the wait
inside the placement function, as it reports it), and
client CPU per order (on SQLite this includes the engine's work).

On a server URL, the database named `bench_scale` (or --name) is created for each round
and dropped after it. The machine's other load shows in absolute figures: read the ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Job,
    Placer,
    Refused,
    actor_of,
    median_figures,
    server_cpu_text,
    server_pid,
)
from benchmarks.floor import FloorPlacer, argument_parser, banner, measure
from energy_tui.db.connect import backend_of, open_database
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.errors import EnergyError


class AppPlacer(Placer):
    """energy-tui's `place_order`, timing how long taking the market lock takes."""

    combined: bool | None = None  # PostgreSQL: migration 0020's combining (None: the default)

    def __init__(self, url: str) -> None:
        from energy_tui.services.market import OrderRequest, orders, place_order, server

        if self.combined is not None:
            server.COMBINED = self.combined

        database = open_database(parse_url(url), pool_size=1, timeout=60)
        db.initialize(database)
        database.connect()
        if backend_of(database) == "postgres":
            self.server_pid = server_pid(database.connection())
        self.request, self.place_order = OrderRequest, place_order
        self.actors: dict[str, Any] = {}
        self._time_lock(orders, database)

    def _time_lock(self, orders: Any, database: Any) -> None:
        placer = self
        if backend_of(database) == "sqlite":
            begin = database.begin

            def timed_begin(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return begin(*args, **kwargs)
                finally:
                    placer.lock_wait += time.perf_counter() - t0

            database.begin = timed_begin
            return
        from energy_tui.services.market import server

        if server.available() and server.COMBINED:  # the time waiting to combine or be combined
            combined = server._combined

            def timed_combined(*args: Any, **kwargs: Any) -> Any:
                rows = combined(*args, **kwargs)
                placer.lock_wait += float(rows[-1][18] or 0)
                return rows

            server._combined = timed_combined
            return
        if server.available():  # one call: the function says how long its lock took
            call = server._call

            def timed_call(*args: Any, **kwargs: Any) -> Any:
                rows = call(*args, **kwargs)
                if len(args) == 1 and not kwargs:  # a placement (not a sweep)
                    placer.lock_wait += float(rows[-1][-1] or 0)
                return rows

            server._call = timed_call
            return
        read_together = orders.read_together

        def timed_reads(*queries: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return read_together(*queries, **kwargs)
            finally:
                if "market_state" in queries[0][0]:
                    placer.lock_wait += time.perf_counter() - t0

        orders.read_together = timed_reads

    def place(self, job: Job) -> int:
        actor = self.actors.get(job.address) or self.actors.setdefault(
            job.address, actor_of(job.address)
        )
        try:
            result = self.place_order(actor, self.request(job.side, job.amount, job.price))
        except EnergyError as exc:  # e.g. it would cross the trader's own order
            raise Refused from exc
        return len(result.fills)

    def close(self) -> None:
        db.close()


class DirectPlacer(AppPlacer):
    """energy-tui with one call of `energy_tui_place_order` per placement (PostgreSQL's
    default; its path before migration 0020)."""

    combined = False


class CombinedPlacer(AppPlacer):
    """energy-tui combining the placements of writers that queue meanwhile into one
    commit (PostgreSQL, migration 0020)."""

    combined = True


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--direct",
        action="store_true",
        help="PostgreSQL: energy-tui combining placements (migration 0020) as 'energy-tui', "
        "and one function call per placement as 'direct', alternating with the floor",
    )
    args = parser.parse_args()
    print(banner(args) + "  (machine shared and loaded: read the ratios)")
    kinds: dict[str, Any] = {"floor": FloorPlacer, "energy-tui": AppPlacer}
    if args.direct:
        kinds = {"floor": FloorPlacer, "energy-tui": CombinedPlacer, "direct": DirectPlacer}
    figures = measure(kinds, args)
    floor = median_figures(figures["floor"])
    print(f"medians of {args.repeat} round(s), {args.writers} writer(s):")
    for label in kinds:
        m = median_figures(figures[label])
        print(
            f"  {label:10} {m['rate']:8,.0f} orders/s  p50 {m['p50'] * 1000:7.2f} ms  "
            f"p99 {m['p99'] * 1000:7.2f} ms  lock wait {m['lock']:5.1%}  "
            f"client CPU {m['cpu'] * 1e6:5.0f} us/order{server_cpu_text(figures[label])}"
        )
    for label in list(kinds)[1:]:
        app = median_figures(figures[label])
        paired = statistics.median(
            a.rate / f.rate for a, f in zip(figures[label], figures["floor"], strict=True)
        )
        print(
            f"  {label}: ratio to the floor: throughput {app['rate'] / floor['rate']:.2f}x "
            f"(median of each round's own ratio: {paired:.2f}x), "
            f"client CPU per order {app['cpu'] / floor['cpu']:.2f}x, "
            f"p99/p50 {app['p99'] / app['p50']:.1f} (floor {floor['p99'] / floor['p50']:.1f})"
        )
    if args.direct:
        combined, direct = median_figures(figures["energy-tui"]), median_figures(figures["direct"])
        paired = statistics.median(
            c.rate / d.rate for c, d in zip(figures["energy-tui"], figures["direct"], strict=True)
        )
        print(
            f"  combined / direct: throughput {combined['rate'] / direct['rate']:.2f}x "
            f"(median of each round's own ratio: {paired:.2f}x)"
        )


if __name__ == "__main__":
    main()
