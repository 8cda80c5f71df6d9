"""A settlement that would take a stored amount past its column is refused, on every
backend and through every front end: a clear message, nothing written (balances,
orders, trades, statistics and candles as before, the invariants hold), CLI exit 2,
API 409 with a problem body. Each single value typed fits its column; the sums a
settlement makes did not: a seller near 9,999,999,999,999.99 WATT, `energy_bought`
and `energy_sold` growing, the fee receiver, a sell's hold, the day's statistics and
its candle buckets. On SQLite the value was stored inexact, on PostgreSQL and MariaDB
the write failed (SQLSTATE 22003, MySQL 1264) as an unexpected error.

Accounts are brought near the limit the way they get there: operator deposits, meter
readings and one huge trade at the smallest price (so the invariants hold before and
after); a candle bucket is set directly in the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from energy_tui.db.migrations import m0031_amount_limits as m0031
from energy_tui.db.models import MarketCandle, MarketStatistics, db
from energy_tui.errors import LimitExceeded
from energy_tui.runtime import bind
from energy_tui.services import prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import amend_order, invariants, limits, place_order, server
from energy_tui.services.market.orders import OrderRequest
from energy_tui.tui.app import make_app as make_tui
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.api_support import client_for, key, make_app, problem, user
from tests.key_support import key_file
from tests.market_support import OPERATOR, Snapshot, balances, key_for, snapshot, trader
from tests.tui_identity_support import (
    SEEDER,
    SELLER,
    SIZE,
    login,
    seeded_database,
    settle,
    type_text,
)

D = Decimal
MAX = D("9999999999999.99")
HUGE = "9999999999990.00"  # kWh: one trade of it at 0.0001 costs 1,050,000,000.00 WATT


@pytest.fixture
def market(backend, now):
    """The market at a frozen moment (candle buckets fixed), checked after each test."""
    yield backend
    assert invariants.check() == []


def order(actor: Actor, side: str, amount: str, price: str):
    return place_order(actor, OrderRequest(side, D(amount), D(price)))


@dataclasses.dataclass(frozen=True)
class Market:
    """What a refusal must leave as it was, candles and statistics rows included."""

    state: Snapshot
    statistics: tuple[object, ...]
    candles: tuple[object, ...]


def state() -> Market:
    stats = MarketStatistics.select().order_by(MarketStatistics.date).tuples()
    candles = MarketCandle.select().order_by(MarketCandle.seconds).tuples()
    return Market(snapshot(), tuple(stats), tuple(candles))


def refused(actor: Actor, side: str, amount: str, price: str, message: str) -> None:
    before = state()
    with pytest.raises(LimitExceeded) as caught:
        order(actor, side, amount, price)
    assert str(caught.value) == message
    assert caught.value.field == "amount"
    assert state() == before


def rich_seller() -> Actor:
    """bob: WATT a cent short of 5.00 below the limit, 20 kWh to sell."""
    return trader("bob", watt="9999999999994.99", energy="20")


def test_a_sale_that_would_take_the_sellers_balance_past_the_limit_is_refused(market):
    ann, bob = trader("ann", watt="100"), rich_seller()
    order(ann, "buy", "5.01", "1.0000")  # 5.01 WATT to bob: one cent too many
    refused(bob, "sell", "5.01", "1.0000", limits.OWN_WATT)


def test_a_sale_that_takes_the_balance_exactly_to_the_limit_settles_exactly(market):
    ann, bob = trader("ann", watt="100"), rich_seller()
    order(ann, "buy", "5.00", "1.0000")
    placed = order(bob, "sell", "5.00", "1.0000")
    assert [f.total for f in placed.fills] == [D("5.00")]
    assert balances("bob").watt_total == MAX  # read back exactly, not a float's neighbour
    assert balances("ann").watt_total == D("94.75")  # 5.00 + 0.25 fee
    order(ann, "buy", "0.01", "1.0000")
    refused(bob, "sell", "0.01", "1.0000", limits.OWN_WATT)  # not a cent more


def test_a_taker_is_not_told_another_traders_balance(market):
    """The resting seller would pass the limit: the buyer hears only "another account"."""
    ann, bob = trader("ann", watt="100"), rich_seller()
    order(bob, "sell", "6.00", "1.0000")
    refused(ann, "buy", "6.00", "1.0000", limits.OTHER)
    assert "9999999999994.99" not in limits.OTHER and "bob" not in limits.OTHER
    order(ann, "buy", "5.00", "1.0000")  # a smaller amount trades
    assert balances("bob").watt_total == MAX


def test_the_fee_receivers_balance_past_the_limit_refuses_the_trade(market):
    ann, bob = trader("ann", watt="100"), trader("bob", energy="20")
    prosumers.ensure_grid_operator("grid-operator")
    prosumers.deposit(OPERATOR, "grid-operator", "9999999999999.90")
    order(bob, "sell", "5.00", "1.0000")
    refused(ann, "buy", "5.00", "1.0000", limits.OTHER)  # a fee of 0.25: past it


def huge_trade(buyer: Actor, seller: Actor) -> None:
    """`buyer` buys HUGE kWh of `seller`'s at 0.0001: the day's volume, the buyer's
    energy_bought and the seller's energy_sold all 9.99 kWh below the limit."""
    order(seller, "sell", HUGE, "0.0001")
    order(buyer, "buy", HUGE, "0.0001")


def test_bought_energy_past_the_limit_is_refused_and_named_as_the_buyers_own(market, now):
    cy = trader("cy", watt="1050000100.00")
    huge_trade(cy, trader("dan", energy=HUGE))
    now.advance(days=1)  # a new day: its statistics far from the limit
    bob = trader("bob", energy="20")
    order(bob, "sell", "10.00", "1.0000")
    refused(cy, "buy", "10.00", "1.0000", limits.OWN_BOUGHT)
    order(cy, "buy", "9.99", "1.0000")  # exactly to the limit
    assert balances("cy").energy_bought == MAX


def test_sold_energy_past_the_limit_is_refused(market, now):
    dan = trader("dan", watt="100", energy=HUGE)
    huge_trade(trader("cy", watt="1050000000.00"), dan)
    now.advance(days=1)
    order(trader("bob", energy="20"), "sell", "20.00", "1.0000")
    order(dan, "buy", "20.00", "1.0000")  # 20 kWh more to sell
    order(trader("ann", watt="100"), "buy", "10.00", "1.0000")
    refused(dan, "sell", "10.00", "1.0000", limits.OWN_SOLD)


def test_the_days_volume_past_the_limit_refuses_any_trade_and_just_under_settles(market):
    huge_trade(trader("cy", watt="1050000000.00"), trader("dan", energy=HUGE))
    ann, bob = trader("ann", watt="100"), trader("bob", energy="20")
    order(bob, "sell", "10.00", "1.0000")
    refused(ann, "buy", "10.00", "1.0000", limits.MARKET)
    placed = order(ann, "buy", "9.99", "1.0000")  # the day's total exactly at the limit
    assert len(placed.fills) == 1
    (day,) = MarketStatistics.select()
    assert (day.total_volume, day.total_trades) == (MAX, 2)
    volumes = {c.seconds: c.volume for c in MarketCandle.select()}
    assert volumes == {900: MAX, 3600: MAX, 86400: MAX}
    refused(ann, "buy", "0.01", "1.0000", limits.MARKET)


def test_a_candle_bucket_past_the_limit_refuses_the_trade(market):
    ann, bob = trader("ann", watt="100"), trader("bob", energy="20")
    order(bob, "sell", "1.00", "1.0000")
    order(ann, "buy", "1.00", "1.0000")  # the day's row and its three buckets exist
    MarketCandle.update(volume=D("9999999999995.00")).where(MarketCandle.seconds == 900).execute()
    order(bob, "sell", "5.00", "1.0000")
    refused(ann, "buy", "5.00", "1.0000", limits.MARKET)


def test_a_sells_hold_past_the_limit_is_refused(market):
    """Credits can pass the limit (generated plus bought); what a sell holds cannot."""
    eve = trader("eve", watt="100", energy=str(MAX))
    order(eve, "sell", str(MAX), "2.0000")  # holds every kWh
    order(trader("bob", energy="5"), "sell", "1.00", "1.0000")
    order(eve, "buy", "1.00", "1.0000")  # 1 kWh more to sell
    refused(eve, "sell", "1.00", "2.0000", limits.OWN_HELD)


def test_an_amendment_that_would_cross_into_the_limit_is_refused(market):
    ann, bob = trader("ann", watt="100"), rich_seller()
    buy = order(ann, "buy", "6.00", "0.5000")
    order(bob, "sell", "6.00", "1.0000")
    before = state()
    with pytest.raises(LimitExceeded) as caught:
        amend_order(ann, buy.order.id, price="1.0000", confirmed=True)
    assert str(caught.value) == limits.OTHER
    assert state() == before


def test_a_sells_hold_amended_past_the_limit_is_refused(market):
    eve = trader("eve", watt="100", energy=str(MAX))
    order(eve, "sell", str(MAX - 1), "2.0000")
    sell = order(eve, "sell", "1.00", "2.0000")  # with the other, holds every kWh
    order(trader("bob", energy="5"), "sell", "2.00", "1.0000")
    order(eve, "buy", "2.00", "1.0000")  # credits: MAX + 2.00
    before = state()
    with pytest.raises(LimitExceeded) as caught:
        amend_order(eve, sell.order.id, amount="3.00", confirmed=True)
    assert str(caught.value) == limits.OWN_HELD
    assert state() == before


def test_the_cli_refuses_with_one_line_and_exit_2(market, cli):
    trader("ann", watt="100")
    rich_seller()
    ann, bob = key_for("ann"), key_for("bob")
    url = market.url
    placed = cli("--db", url, "order", "place", "buy", "5.01", "1.0000", "--yes", *key_file(ann))
    assert placed.code == 0, placed
    before = state()
    result = cli("--db", url, "order", "place", "sell", "5.01", "1.0000", "--yes", *key_file(bob))
    assert result.code == 2, result
    assert result.out == "" and result.err.count("\n") == 1
    assert limits.OWN_WATT in result.err and "Traceback" not in result.err
    assert state() == before
    deposit = cli("--db", url, "prosumer", "deposit", "bob", "5.01")
    assert deposit.code == 2 and "past" in deposit.err, deposit
    assert state() == before


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


def test_the_api_answers_409_with_a_problem_and_writes_nothing(market, client):
    user("ann", watt="100")
    user("bob", watt="9999999999994.99", energy="20")
    ann, bob = key("ann"), key("bob")
    body = {"side": "sell", "amount": "6.00", "price": "1.0000", "confirm": True}
    resting = client.post("/api/v1/orders", json=body, headers=bob)
    assert resting.status_code == 201, resting.text
    before = state()
    buy = {**body, "side": "buy"}
    answer = client.post("/api/v1/orders", json=buy, headers=ann)
    problem(answer, 409, limits.OTHER, field="amount")
    assert state() == before
    placed = client.post("/api/v1/orders", json={**buy, "amount": "5.00"}, headers=ann)
    assert placed.status_code == 201, placed.text
    assert balances("bob").watt_total == MAX


def test_the_server_functions_say_what_the_python_path_says():
    """Migration 0031 keeps its own copy of the messages (a migration does not change
    once it has run); they must stay the Python path's."""
    for name in ("OWN_WATT", "OWN_BOUGHT", "OWN_SOLD", "OWN_HELD", "OTHER", "MARKET"):
        assert getattr(m0031, name) == getattr(limits, name), name
    assert D(m0031.LIMIT) == limits.MAX_AMOUNT
    assert D(m0031.NOTIONAL_LIMIT) == limits.MAX_NOTIONAL


def test_a_write_the_database_refuses_as_out_of_range_is_still_a_refusal(
    market, monkeypatch: pytest.MonkeyPatch
):
    """With the checks out of the way (as for a path they do not know), PostgreSQL and
    MariaDB refuse the write themselves (22003, 1264): that too is a LimitExceeded,
    nothing written, not an unexpected error. SQLite stores it inexact: the checks are
    what stops it there."""
    if market.name == "sqlite":
        pytest.skip("SQLite refuses nothing: it stores a REAL")
    monkeypatch.setattr(server, "ENABLED", False)  # the Python path writes it
    monkeypatch.setattr(limits, "MAX_AMOUNT", D("1e20"))
    ann, bob = trader("ann", watt="100"), rich_seller()
    order(ann, "buy", "6.00", "1.0000")
    before = state()
    with pytest.raises(LimitExceeded) as caught:
        order(bob, "sell", "6.00", "1.0000")
    assert str(caught.value) == limits.STORED
    assert state() == before
    assert db.in_transaction() is False


def test_the_tui_ticket_says_why_and_places_nothing(tmp_path) -> None:
    """The order ticket: the refusal under the ticket, as for any refusal; no order."""
    settings, url = seeded_database(tmp_path)
    with bind(settings).database.connection_context():
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn")
        prosumers.deposit(SEEDER, "seller", "9999999999999.90")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        order(SELLER, "sell", "5.00", "0.2500")  # 0.25 WATT for 1 kWh: past the limit
        before = state()

    async def buy_one_kwh() -> str:
        app = make_tui(settings, url)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await login(pilot, "alice")
            ticket = pilot.app.screen.query_one(OrderTicket)
            await pilot.press("b")
            await type_text(pilot, "1")
            await pilot.press("tab")
            await type_text(pilot, "0.2500")
            await settle(pilot)
            await pilot.press("enter")
            for _ in range(100):
                await settle(pilot)
                if isinstance(app.screen, ConfirmOrder):
                    await pilot.press("y")  # the fat-finger guard, if it asks
                if ticket.error:
                    break
                await pilot.pause(0.05)
            return ticket.error

    assert asyncio.run(buy_one_kwh()) == f"Not placed: {limits.OTHER}"
    with bind(settings).database.connection_context():
        after = state()  # the login's audit events aside
        assert dataclasses.replace(after, state=dataclasses.replace(after.state, audit=0)) == (
            dataclasses.replace(before, state=dataclasses.replace(before.state, audit=0))
        )
        assert invariants.check() == []
