"""Random sequences of market activity keep the six invariants of DESIGN §3 (hypothesis).

Deposits, withdrawals, meter readings (generation, or consumption that leaves credits
>= what sell orders hold), orders, cancels, clock jumps and sweeps, in any order; after
every step `invariants.check()` finds nothing, the daily statistics agree exactly with
a rebuild from the trades, and every refused request has written nothing.
Many examples on SQLite, fewer on the servers (each step is a few round trips there).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from energy_tui.db.models import MODELS, EnergyOrder, MarketState
from energy_tui.errors import InsufficientFunds, ValidationError
from energy_tui.services import prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import cancel_order, invariants, stats, sweep_expired
from tests.clock_support import START, Clock, freeze
from tests.market_support import OPERATOR, place, snapshot

EXAMPLES = {"sqlite": 200, "postgres": 50, "mysql": 50}
STEPS = {"sqlite": 40, "postgres": 30, "mysql": 30}
ADDRESSES = ("p0", "p1", "p2", "p3")
CENT = Decimal("0.01")


def cents(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: str(Decimal(n) * CENT))


prices = st.integers(950, 1050).map(lambda n: str(Decimal(n).scaleb(-4)))
kwh = cents(1, 500)
who = st.sampled_from(ADDRESSES)


def wipe() -> None:
    """Empty every table (children first) and put back the market's state row."""
    for model in reversed(MODELS):
        model.delete().execute()
    MarketState.insert(id=1).execute()


def actor(address: str) -> Actor:
    return Actor(label=f"user:{address}", role="trader", prosumer_address=address)


class Market(RuleBasedStateMachine):
    clock: Clock  # set by the test: the frozen `clock.now`

    @initialize(watt=cents(0, 5_000), energy=cents(0, 2_000))
    def open_market(self, watt: str, energy: str) -> None:
        """Every prosumer starts with the same random stake (maybe nothing)."""
        self.clock.now = START
        wipe()
        for address in ADDRESSES:
            prosumers.add_prosumer(OPERATOR, address, address.upper())
            if Decimal(watt):
                prosumers.deposit(OPERATOR, address, watt)
            if Decimal(energy):
                prosumers.add_meter_reading(OPERATOR, address, generated=energy)

    def refused(self, label: str, call, *errors: type[Exception]) -> Any:
        """Run `call`; if it is refused with one of `errors`, nothing may have changed."""
        before = snapshot()
        try:
            return call()
        except errors as error:
            event(f"{label} refused: {type(error).__name__}")
            assert snapshot() == before
            return None

    @rule(address=who, amount=cents(1, 100_000))
    def deposit(self, address: str, amount: str) -> None:
        prosumers.deposit(OPERATOR, address, amount)

    @rule(address=who, amount=cents(1, 5_000))
    def withdraw(self, address: str, amount: str) -> None:
        self.refused(
            "withdraw", lambda: prosumers.withdraw(OPERATOR, address, amount), InsufficientFunds
        )

    @rule(address=who, amount=cents(1, 2_000))
    def generate(self, address: str, amount: str) -> None:
        prosumers.add_meter_reading(OPERATOR, address, generated=amount)

    @rule(address=who, share=st.integers(1, 100))
    def consume(self, address: str, share: int) -> None:
        available = prosumers.balances(address).energy_available
        amount = (available * share / 100).quantize(CENT, rounding="ROUND_DOWN")
        if amount > 0:
            prosumers.add_meter_reading(OPERATOR, address, consumed=amount)

    @rule(
        address=who,
        side=st.sampled_from(("buy", "sell")),
        amount=kwh,
        price=prices,
        ioc=st.sampled_from((False, False, False, True)),
        expires=st.sampled_from((None, None, "30s", "10m", "2h")),
    )
    def order(
        self, address: str, side: str, amount: str, price: str, ioc: bool, expires: str | None
    ) -> None:
        result = self.refused(
            "order",
            lambda: place(actor(address), side, amount, price, ioc=ioc, expires=expires),
            ValidationError,  # not enough WATT or energy, or it would cross one's own order
        )
        if result is not None:
            event(f"order {result.order.status}, {min(len(result.fills), 2)}+ fills")

    @rule(address=who, pick=st.integers(0, 30))
    def cancel(self, address: str, pick: int) -> None:
        ids = [
            row.id
            for row in EnergyOrder.select(EnergyOrder.id)
            .where(EnergyOrder.trader_address == address)
            .order_by(EnergyOrder.seq)
        ]
        if ids:
            order_id = ids[pick % len(ids)]
            self.refused("cancel", lambda: cancel_order(actor(address), order_id), ValidationError)

    @rule(seconds=st.sampled_from((1, 20, 45, 600, 3600, 7200, 86_400)))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule()
    def sweep(self) -> None:
        sweep_expired()

    @invariant()
    def six_invariants_hold(self) -> None:
        assert invariants.check() == []

    @invariant()
    def statistics_agree_with_a_rebuild(self) -> None:
        assert stats.rebuild() == []


def test_random_market_activity_keeps_every_invariant(backend, monkeypatch):
    monkeypatch.setattr(Market, "clock", freeze(monkeypatch, START), raising=False)
    run_state_machine_as_test(
        Market,
        settings=settings(
            max_examples=EXAMPLES[backend.name],
            stateful_step_count=STEPS[backend.name],
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
