"""Matching throughput: orders/s, trades/s and latency per order, one process.

    python benchmarks/matching.py [--db URL --reset] [--orders 5000]

Each order is its own transaction through `market.place_order`, on a book prepared
with resting orders on both sides around a mid price; incoming prices straddle the
mid so that about half of them trade.
"""

from __future__ import annotations

import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import describe_ms, parser, prepare
from energy_tui.db.models import Prosumer, User
from energy_tui.errors import EnergyError
from energy_tui.services import prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import OrderRequest, place_order
from energy_tui.services.market import rules as market_rules

MID = Decimal("0.2000")
TRADERS = 400


def setup_traders(database) -> list[Actor]:
    op = Actor.local_operator()
    actors = []
    for i in range(TRADERS):
        address = f"bench-{i:03d}"
        prosumers.add_prosumer(op, address, f"Bench {i}")
        prosumers.deposit(op, address, "1000000")
        prosumers.add_meter_reading(op, address, generated="1000000")
        actors.append(
            Actor(f"user:{address}", "trader", username=address, prosumer_address=address)
        )
    return actors


def random_request(rng: random.Random, spread: int) -> OrderRequest:
    side = rng.choice(("buy", "sell"))
    offset = Decimal(rng.randint(-spread, spread)) / 10000
    price = MID + offset if side == "buy" else MID - offset
    amount = Decimal(rng.randint(1, 2000)) / 100
    return OrderRequest(side, amount, price)


def seed_book(actors: list[Actor], resting: int, rng: random.Random) -> None:
    """Resting orders on both sides that do not cross: bids below mid, asks above."""
    for i in range(resting):
        side = "buy" if i % 2 else "sell"
        step = Decimal(rng.randint(1, 200)) / 10000
        price = MID - step if side == "buy" else MID + step
        request = OrderRequest(side, Decimal(rng.randint(100, 5000)) / 100, price)
        place_order(actors[i % len(actors)], request)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=5000)
    p.add_argument("--resting", type=int, default=2000)
    args = p.parse_args()
    url, database = prepare(args.db, args.reset)
    rng = random.Random(args.seed)
    actors = setup_traders(database)
    # resting orders that never expire mid-run
    market_rules.set_rule(Actor.local_operator(), "ORDER_TTL_HOURS", "0")
    seed_book(actors, args.resting, rng)
    requests = [(rng.choice(actors), random_request(rng, 60)) for _ in range(args.orders)]
    latencies, trades, refused = [], 0, 0
    started = time.perf_counter()
    for actor, request in requests:
        t0 = time.perf_counter()
        try:
            trades += len(place_order(actor, request).fills)
        except EnergyError:  # e.g. it would cross the trader's own order: rolled back
            refused += 1
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    backend = url.split(":", 1)[0]
    print(
        f"backend {backend}: {args.orders} orders on a book of {args.resting} resting orders, "
        f"{TRADERS} traders"
    )
    print(
        f"  {args.orders / elapsed:,.0f} orders/s, {trades / elapsed:,.0f} trades/s "
        f"({trades} trades in {elapsed:.2f} s; {refused} orders refused by the rules)"
    )
    print(f"  latency per order: {describe_ms(latencies)}")
    print(f"  prosumers {Prosumer.select().count()}, users {User.select().count()}")
    database.close()


if __name__ == "__main__":
    main()
