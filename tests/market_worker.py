"""One trading process of the concurrency test: places (limit GTC/IOC/FOK and market),
amends and cancels random orders, and now and then cancels all of one prosumer's.

Runs in a process of its own (multiprocessing 'spawn'), so it opens its own
connection from the URL. It reports what happened instead of raising: the refusals
the market is expected to make, and every other error with its traceback.
"""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
import uuid
from decimal import Decimal

from energy_tui.db.connect import open_database
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.errors import InsufficientFunds, ValidationError
from energy_tui.services.context import Actor
from energy_tui.services.market import (
    amend_order,
    cancel_all,
    cancel_order,
    order_request,
    place_order,
    stats,
)

MID = Decimal("0.1500")
TICK = Decimal("0.0001")
EXPIRIES = (None, None, None, None, None, None, "1s", "2s")


@dataclasses.dataclass
class Report:
    address: str
    placed: int = 0
    fills: int = 0
    cancelled: int = 0
    amended: int = 0
    refused: dict[str, int] = dataclasses.field(default_factory=dict)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    slowest: float = 0.0

    def refuse(self, error: Exception) -> None:
        kind = _kind(error)
        self.refused[kind] = self.refused.get(kind, 0) + 1


def _kind(error: Exception) -> str:
    text = str(error)
    if "your own" in text:
        return "self-cross"
    if " is already " in text:
        return f"cancel: already {text.split(' is already ')[1].split(':')[0]}"
    if "only open orders can be amended" in text:
        return f"amend: {text.split(' is ')[1].split(':')[0]}"
    if "fill or kill" in text or "price cap" in text:
        return text.split(":")[0]
    return type(error).__name__


def run(url: str, addresses: list[str], seed: int, orders: int, start_at: float) -> Report:
    """Trade for `addresses` (a random one per order) once the wall clock says `start_at`,
    so that all processes, started one after another, trade at the same time."""
    database = open_database(parse_url(url), pool_size=1, timeout=30)
    db.initialize(database)
    report = Report(", ".join(addresses))
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
            time.sleep(max(0.0, start_at - time.time()))
            started = time.monotonic()
            _trade(report, random.Random(seed), addresses, orders)
            report.seconds = time.monotonic() - started
    finally:
        close_all = getattr(database, "close_all", None)
        if close_all is not None:
            close_all()
        else:
            database.close()
    return report


def _trade(report: Report, rng: random.Random, addresses: list[str], orders: int) -> None:
    actors = [Actor(label=f"worker:{a}", role="trader", prosumer_address=a) for a in addresses]
    resting: list[tuple[Actor, uuid.UUID]] = []
    for _ in range(orders):
        actor = rng.choice(actors)
        _timed(report, lambda a=actor: _place(report, rng, a, resting))
        if resting and rng.random() < 0.4:
            owner, order_id = resting.pop(rng.randrange(len(resting)))
            _timed(report, lambda a=owner, o=order_id: _cancel(report, a, o))
        if resting and rng.random() < 0.25:
            owner, order_id = resting[rng.randrange(len(resting))]
            _timed(report, lambda a=owner, o=order_id: _amend(report, rng, a, o))
        if rng.random() < 0.02:
            everything = rng.choice(actors)
            _timed(report, lambda a=everything: _cancel_all(report, a, resting))
    # Market orders and cancel-alls leave few short-lived orders resting until they
    # expire: one that surely does, for the sweep the test runs at the end.
    last = order_request("buy", "1", MID - 50 * TICK, expires="1s")
    _timed(report, lambda: place_order(actors[0], last))


def _timed(report: Report, step) -> None:
    started = time.monotonic()
    try:
        step()
    except (InsufficientFunds, ValidationError) as error:
        report.refuse(error)
    except Exception:
        report.unexpected.append(traceback.format_exc())
    report.slowest = max(report.slowest, time.monotonic() - started)


def _place(report: Report, rng: random.Random, actor: Actor, resting: list) -> None:
    side = rng.choice(("buy", "sell"))
    price = MID + TICK * rng.randint(-25, 25)
    amount = Decimal(rng.randint(1, 800)).scaleb(-2)
    tif = rng.choices(("gtc", "ioc", "fok"), (70, 18, 12))[0]
    market = rng.random() < 0.1
    request = order_request(
        side,
        amount,
        None if market and rng.random() < 0.5 else price,  # the default cap, or a cap
        ioc=tif == "ioc",
        fok=tif == "fok",
        market=market,
        expires=rng.choice(EXPIRIES),
    )
    result = place_order(actor, request)
    report.placed += 1
    report.fills += len(result.fills)
    if result.order.is_open:
        resting.append((actor, result.order.id))


def _cancel(report: Report, actor: Actor, order_id: uuid.UUID) -> None:
    cancel_order(actor, order_id)
    report.cancelled += 1


def _amend(report: Report, rng: random.Random, actor: Actor, order_id: uuid.UUID) -> None:
    """A new price (maybe crossing), a new amount (smaller or larger), or both."""
    change = rng.choice(("price", "amount", "both"))
    price = MID + TICK * rng.randint(-25, 25) if change != "amount" else None
    amount = Decimal(rng.randint(1, 800)).scaleb(-2) if change != "price" else None
    result = amend_order(actor, order_id, price=price, amount=amount, confirmed=True)
    report.amended += 1
    report.fills += len(result.fills)


def _cancel_all(report: Report, actor: Actor, resting: list) -> None:
    done = cancel_all(actor, None)
    report.cancelled += len(done.orders)
    resting[:] = [(a, o) for a, o in resting if a is not actor]


def rebuild_statistics(url: str, start_at: float, seconds: float) -> list[str]:
    """Rebuild the daily statistics over and over while the traders trade; return every
    disagreement found (there must be none: each rebuild sees one consistent state)."""
    database = open_database(parse_url(url), pool_size=1, timeout=30)
    db.initialize(database)
    found: list[str] = []
    with database.connection_context():
        time.sleep(max(0.0, start_at - time.time()))
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            found += stats.rebuild()
    close_all = getattr(database, "close_all", None)
    if close_all is not None:
        close_all()
    return found
