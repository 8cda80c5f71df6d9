"""An order the platform inserts and a placement through our service, at once, never
deadlock (migration 0018's lock order).

A sell the platform inserts holds its kWh: its trigger updates its owner's prosumer row.
It takes the market lock (`market_state`) first, as every placement does: a placement
holds the market lock and then locks the accounts it settles, the makers it reaches
among them. Were the trigger to lock the owner's row first, a platform insert for a
maker could hold that row while waiting for the market lock, and the placement holding
the market lock would wait for the row: a deadlock, which PostgreSQL and MySQL break
by failing one of the two.

Two threads, each with its own connection: the platform inserts sells for prosumer
`maker` while a trader buys through the service, each buy taking the sell that rests
(so `maker` is a maker of every placement). `test_..._at_the_worst_moment` makes the
interleaving that deadlocks with the opposite order happen every round: the placement
stops after it holds the market lock and before it locks the makers' accounts
(`Ledger.load_many`, on the Python path) until the platform's INSERT has been sent.
`test_..._in_many_free_rounds` lets both run freely, through the server function on
PostgreSQL. Any error in either thread fails the test; no retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from energy_tui.db.models import EnergyOrder, EnergyTrade, db
from energy_tui.services.market import invariants, orders, server
from tests.market_support import place, trader

D = Decimal
WAIT = 20  # seconds a thread waits for the other before it gives up


def platform_sell() -> None:
    """The INSERT another service writes: the note's columns only."""
    p = db.param
    with db.atomic():
        db.execute_sql(
            "INSERT INTO energy_orders (trader_address, order_type, energy_amount, "
            f"price_per_kwh) VALUES ({p}, {p}, {p}, {p})",
            ("maker", "sell", D("1.00"), D("0.1000")),
        )


def run_together(database, rounds: int, platform_step: Callable[[int], None], buy_step) -> list:
    """Run `rounds` platform inserts and `rounds` placements in two threads, round by
    round; return what either raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=WAIT)

    def thread(step: Callable[[int], None]) -> Callable[[], None]:
        def body() -> None:
            with database.connection_context():
                for n in range(rounds):
                    try:
                        start.wait()
                        step(n)
                    except threading.BrokenBarrierError:
                        return
                    except BaseException as exc:  # any error fails the test, with what it was
                        errors.append(exc)
                        start.abort()
                        return

        return body

    threads = [threading.Thread(target=thread(s)) for s in (platform_step, buy_step)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * rounds)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting"
    return errors


@pytest.fixture
def market(backend):
    trader("maker", energy="500")
    buyer = trader("taker", watt="500")
    platform_sell()  # the first sell the first buy takes
    yield buyer
    assert invariants.check() == []


def test_a_platform_insert_and_a_placement_never_deadlock_at_the_worst_moment(
    backend, market, monkeypatch
):
    rounds = 8
    monkeypatch.setattr(server, "ENABLED", False)  # the Python path, where the hook is
    holding, sent = threading.Event(), threading.Event()
    load_many = orders.Ledger.load_many

    def stopping(self, addresses):  # the market lock held, the makers not locked yet
        holding.set()
        sent.wait(WAIT)
        time.sleep(0.2)  # the platform's INSERT is waiting for a lock by now
        return load_many(self, addresses)

    monkeypatch.setattr(orders.Ledger, "load_many", stopping)

    def platform(_: int) -> None:
        assert holding.wait(WAIT), "the placement never reached the makers"
        holding.clear()
        sent.set()
        platform_sell()

    def buy(_: int) -> None:
        assert [f.seller_address for f in place(market, "buy", "1", "0.1000").fills] == ["maker"]
        sent.clear()

    assert run_together(backend.database, rounds, platform, buy) == []
    assert EnergyTrade.select().count() == rounds
    assert EnergyOrder.select().where(EnergyOrder.is_active).count() == 1


def test_a_platform_insert_and_a_placement_never_deadlock_in_many_free_rounds(backend, market):
    rounds = 60

    def buy(_: int) -> None:
        place(market, "buy", "1", "0.1000", ioc=True)

    assert run_together(backend.database, rounds, lambda _: platform_sell(), buy) == []
    assert EnergyTrade.select().count() >= 1
