"""Random sequences of market activity keep the six invariants of DESIGN §3 (hypothesis).

Deposits, withdrawals, meter readings (generation, or consumption that leaves credits
>= what sell orders hold), orders (limit GTC/IOC/FOK, market with or without a cap),
amendments, cancels, cancel-alls, clock jumps and sweeps, in any order; after
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
from energy_tui.services.market import (
    amend_order,
    cancel_all,
    cancel_order,
    invariants,
    stats,
    sweep_expired,
)
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
        tif=st.sampled_from(("gtc", "gtc", "gtc", "gtc", "ioc", "fok")),
        kind=st.sampled_from(("limit", "limit", "limit", "limit", "market", "capped")),
        expires=st.sampled_from((None, None, "30s", "10m", "2h")),
    )
    def order(
        self,
        address: str,
        side: str,
        amount: str,
        price: str,
        tif: str,
        kind: str,
        expires: str | None,
    ) -> None:
        market = kind != "limit"
        result = self.refused(
            "order",
            lambda: place(
                actor(address),
                side,
                amount,
                "" if kind == "market" else price,
                ioc=tif == "ioc",
                fok=tif == "fok",
                market=market,
                expires=expires,
            ),
            ValidationError,  # not enough WATT or energy, crossing one's own order, no cap
        )
        if result is None:
            return
        o = result.order
        event(f"{kind} {o.time_in_force} {o.status}, {min(len(result.fills), 2)}+ fills")
        if market or tif != "gtc":
            assert not o.is_open  # an immediate order never rests
        if tif == "fok":  # all or nothing
            assert o.filled in (0, o.amount)
            assert (o.status == "cancelled") == (not result.fills)

    @rule(
        address=who,
        pick=st.integers(0, 30),
        price=st.none() | prices,
        amount=st.none() | kwh,
    )
    def amend(self, address: str, pick: int, price: str | None, amount: str | None) -> None:
        rows = list(
            EnergyOrder.select(
                EnergyOrder.id,
                EnergyOrder.seq,
                EnergyOrder.energy_amount,
                EnergyOrder.price_per_kwh,
            )
            .where(EnergyOrder.trader_address == address)
            .order_by(EnergyOrder.seq)
        )
        if not rows:
            return
        row = rows[pick % len(rows)]
        result = self.refused(
            "amend",
            lambda: amend_order(actor(address), row.id, price=price, amount=amount, confirmed=True),
            ValidationError,  # closed, nothing to change, too little left, not enough, ...
        )
        if result is None:
            return
        event(f"amend {result.order.status}, {min(len(result.fills), 2)}+ fills")
        same_price = price is None or Decimal(price) == row.price_per_kwh
        smaller = same_price and amount is not None and Decimal(amount) < row.energy_amount
        kept = EnergyOrder.get_by_id(row.id).seq == row.seq
        assert kept == smaller  # a smaller amount keeps its priority, all else loses it

    @rule(address=who, side=st.sampled_from((None, "buy", "sell")))
    def cancel_everything(self, address: str, side: str | None) -> None:
        done = cancel_all(actor(address), side)
        event(f"cancel all: {min(len(done.orders), 2)}+ orders")
        still = EnergyOrder.select().where(
            (EnergyOrder.trader_address == address) & EnergyOrder.is_active
        )
        assert not [o for o in still if side is None or o.order_type == side]

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
