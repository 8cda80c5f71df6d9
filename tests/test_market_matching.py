"""The continuous double auction and settlement of DESIGN §3, on every backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from energy_tui.db.models import EnergyOrder, EnergyTrade, MarketStatistics, Prosumer
from energy_tui.errors import ValidationError
from energy_tui.services import prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import book as market_book
from energy_tui.services.market import cancel_order, invariants, server, stats, sweep_expired
from tests.clock_support import freeze
from tests.market_support import (
    OPERATOR,
    RULES,
    audit_events,
    balances,
    place,
    set_rule,
    snapshot,
    trader,
)

D = Decimal


@pytest.fixture(autouse=True)
def market(backend):
    """Every test runs on every backend and must leave all six invariants holding."""
    yield backend
    assert invariants.check() == []


def order_row(order_id) -> EnergyOrder:
    return EnergyOrder.get_by_id(order_id)


def fills_of(result) -> list[tuple[str, Decimal, Decimal]]:
    return [(f.seller_address, f.amount, f.price) for f in result.fills]


# --- priority and prices -------------------------------------------------------------


def test_buy_takes_cheapest_asks_first_and_oldest_first_at_each_price(monkeypatch):
    freeze(monkeypatch)  # same timestamp for all: time priority must come from arrival
    for name, price in (("s1", "0.1200"), ("s2", "0.1100"), ("s3", "0.1100")):
        place(trader(name, energy="5"), "sell", "1", price)
    buyer = trader("buyer", watt="10")

    result = place(buyer, "buy", "2.5", "0.1300")

    assert fills_of(result) == [
        ("s2", D("1.00"), D("0.1100")),
        ("s3", D("1.00"), D("0.1100")),
        ("s1", D("0.50"), D("0.1200")),
    ]
    assert result.order.status == "filled"


def test_sell_takes_highest_bids_first_and_oldest_first_at_each_price(monkeypatch):
    freeze(monkeypatch)
    for name, price in (("b1", "0.1000"), ("b2", "0.1100"), ("b3", "0.1100")):
        place(trader(name, watt="5"), "buy", "1", price)
    seller = trader("seller", energy="5")

    result = place(seller, "sell", "2.5", "0.0900")

    assert [(f.buyer_address, f.amount, f.price) for f in result.fills] == [
        ("b2", D("1.00"), D("0.1100")),
        ("b3", D("1.00"), D("0.1100")),
        ("b1", D("0.50"), D("0.1000")),
    ]


def test_incoming_buy_pays_the_resting_sell_price_not_its_limit():
    place(trader("seller", energy="5"), "sell", "1", "0.1000")
    result = place(trader("buyer", watt="5"), "buy", "1", "0.2000")
    (fill,) = result.fills
    assert (fill.price, fill.taker_side) == (D("0.1000"), "buy")


def test_incoming_sell_receives_the_resting_buy_price_not_its_limit():
    place(trader("buyer", watt="5"), "buy", "1", "0.2000")
    result = place(trader("seller", energy="5"), "sell", "1", "0.1000")
    (fill,) = result.fills
    assert (fill.price, fill.taker_side) == (D("0.2000"), "sell")
    assert EnergyTrade.get().price_per_kwh == D("0.2000")


def test_orders_that_do_not_cross_do_not_trade():
    place(trader("seller", energy="5"), "sell", "1", "0.1500")
    result = place(trader("buyer", watt="5"), "buy", "1", "0.1499")
    assert result.fills == []
    current = market_book.book()
    assert (current.best_bid, current.best_ask) == (D("0.1499"), D("0.1500"))


# --- partial fills and time in force -------------------------------------------------


def test_partially_filled_resting_order_keeps_its_remainder_on_the_book():
    seller = trader("seller", energy="50")
    resting = place(seller, "sell", "10", "0.1000").order
    place(trader("buyer", watt="10"), "buy", "4", "0.1000")

    row = order_row(resting.id)
    assert (row.status, row.filled_amount, row.is_active) == ("partially_filled", D("4.00"), True)
    assert balances("seller").energy_reserved == D("6.00")
    assert market_book.book().asks[0].quantity == D("6.00")


def test_gtc_remainder_rests_on_the_book_after_a_partial_fill():
    place(trader("seller", energy="50"), "sell", "3", "0.1000")
    result = place(trader("buyer", watt="10"), "buy", "5", "0.1000")

    assert (result.order.status, result.order.filled) == ("partially_filled", D("3.00"))
    (bid,) = market_book.book().bids
    assert (bid.price, bid.quantity) == (D("0.1000"), D("2.00"))
    # Held 0.53 (0.50 + fee 0.025 rounded up to 0.03); the fill cost 0.30 + 0.015 -> 0.02,
    # so 0.21 stays held: what the rest costs, 2 x 0.10 + fee 0.01.
    assert balances("buyer").watt_reserved == D("0.21")


def test_rounding_cent_beyond_the_hold_is_paid_from_available_watt():
    place(trader("seller", energy="50"), "sell", "3", "0.1000")
    buy = place(trader("buyer", watt="10"), "buy", "5", "0.1000").order  # holds 0.53
    place(trader("seller2", energy="50"), "sell", "1", "0.1000")
    place(trader("seller3", energy="50"), "sell", "1", "0.1000")

    assert order_row(buy.id).status == "filled"
    # 0.32 + 0.11 + 0.11 (each fee rounded up to a cent): one cent over the hold
    assert balances("buyer").watt_total == D("9.46")


def test_resting_buy_that_cannot_pay_a_rounding_cent_is_cancelled_not_filled():
    place(trader("seller", energy="50"), "sell", "3", "0.1000")
    buy = place(trader("buyer", watt="0.53"), "buy", "5", "0.1000").order  # all it has
    place(trader("seller2", energy="50"), "sell", "1", "0.1000")  # 0.11 of the 0.21 held
    late = place(trader("seller3", energy="50"), "sell", "1", "0.1000")  # 0.11 > 0.10 left

    assert late.fills == []
    assert late.order.status == "open"
    row = order_row(buy.id)
    assert (row.status, row.filled_amount, row.watt_reserved) == ("cancelled", D("4.00"), 0)
    assert balances("buyer").watt_total == D("0.10")


def test_ioc_remainder_is_cancelled_and_its_reservation_released():
    place(trader("seller", energy="50"), "sell", "3", "0.1000")
    result = place(trader("buyer", watt="10"), "buy", "5", "0.1000", ioc=True)

    row = order_row(result.order.id)
    assert (row.status, row.filled_amount, row.is_active) == ("cancelled", D("3.00"), False)
    assert row.watt_reserved == 0
    assert balances("buyer").watt_reserved == 0
    assert market_book.book().bids == []


def test_ioc_order_that_matches_nothing_is_cancelled_without_trading():
    result = place(trader("buyer", watt="10"), "buy", "5", "0.1000", ioc=True)
    assert (result.order.status, result.fills) == ("cancelled", [])
    assert balances("buyer").watt_reserved == 0
    assert result.order.expires_at is None


def test_gtc_order_that_does_not_cross_rests_holding_amount_times_limit_plus_fee():
    result = place(trader("buyer", watt="10"), "buy", "10", "0.1000")
    assert result.order.status == "open"
    assert result.order.watt_reserved == D("1.05")  # 1.00 + 5% fee
    assert balances("buyer").watt_reserved == D("1.05")


def test_resting_sell_holds_its_energy():
    place(trader("seller", energy="50"), "sell", "12.5", "0.3000")
    b = balances("seller")
    assert (b.energy_reserved, b.energy_available) == (D("12.50"), D("37.50"))


# --- self-trade rule -----------------------------------------------------------------


def test_order_crossing_own_resting_order_is_rejected_and_writes_nothing():
    alice = trader("alice", watt="10", energy="10")
    place(alice, "sell", "1", "0.1000")
    before = snapshot()

    with pytest.raises(ValidationError, match=r"your own sell order at 0\.1000"):
        place(alice, "buy", "1", "0.1200")

    assert snapshot() == before


def test_order_below_own_resting_sell_is_accepted():
    alice = trader("alice", watt="10", energy="10")
    place(alice, "sell", "1", "0.1000")
    assert place(alice, "buy", "1", "0.0999").order.status == "open"


# --- settlement ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "price", "total", "fee"),
    [
        ("1.25", "0.1000", "0.12", "0.01"),  # 0.125 -> 0.12 (half-even), fee 0.006 -> 0.01 (up)
        ("1.35", "0.1000", "0.14", "0.01"),  # 0.135 -> 0.14 (half-even), fee 0.007 -> 0.01
        ("5.00", "0.1000", "0.50", "0.03"),  # fee 0.025 -> 0.03 (up; half-even: 0.02)
        ("7.00", "0.1000", "0.70", "0.04"),  # fee 0.035 -> 0.04
        ("3.33", "0.1234", "0.41", "0.03"),  # 0.410922 -> 0.41, fee 0.0205 -> 0.03 (up)
        ("0.11", "0.1660", "0.02", "0.01"),  # 0.01826 -> 0.02, fee 0.001 -> 0.01 (half-even: 0)
        ("40.00", "0.2500", "10.00", "0.50"),
    ],
)
def test_settlement_moves_total_to_seller_and_fee_rounded_up_to_grid_operator(
    amount, price, total, fee
):
    place(trader("seller", energy="50"), "sell", amount, price)
    result = place(trader("buyer", watt="100"), "buy", amount, price)

    total, fee, amount = D(total), D(fee), D(amount)
    trade = EnergyTrade.get()
    assert (trade.total_price, trade.fee, trade.buyer_total) == (total, fee, total + fee)
    assert result.fills[0].buyer_total == total + fee
    buyer, seller = balances("buyer"), balances("seller")
    assert (buyer.watt_total, buyer.watt_reserved) == (D("100") - total - fee, 0)
    assert (buyer.energy_bought, buyer.energy_credits) == (amount, amount)
    assert (seller.watt_total, seller.energy_sold, seller.energy_reserved) == (total, amount, 0)
    assert seller.energy_credits == D("50") - amount
    grid = Prosumer.get_by_id(RULES.grid_operator_address)
    assert (grid.kind, grid.watt_tokens) == ("grid_operator", fee)


def test_zero_fee_rate_charges_no_fee_and_creates_no_grid_operator():
    set_rule("GRID_FEE_RATE", "0")
    place(trader("seller", energy="50"), "sell", "5", "0.1000")
    place(trader("buyer", watt="10"), "buy", "5", "0.1000")

    assert (EnergyTrade.get().fee, balances("buyer").watt_total) == (0, D("9.50"))
    assert not Prosumer.select().where(Prosumer.kind == "grid_operator").exists()


def test_fees_accumulate_on_the_existing_grid_operator():
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    for _ in range(3):
        place(seller, "sell", "10", "0.1000")
        place(buyer, "buy", "10", "0.1000")
    assert balances(RULES.grid_operator_address).watt_total == D("0.15")


def fee_receiver_trading(stored: str, typed: str) -> Actor:
    """A grid-operator prosumer stored as `stored` that also trades, and the market's
    fee receiver set to it as `typed` (the same address in another case)."""
    prosumers.add_prosumer(OPERATOR, stored, "Grid operator", kind="grid_operator")
    prosumers.deposit(OPERATOR, stored, "100")
    prosumers.add_meter_reading(OPERATOR, stored, generated="50")
    set_rule("GRID_OPERATOR_ADDRESS", typed)
    return Actor(label=f"user:{stored}", role="trader", username=stored, prosumer_address=stored)


@pytest.mark.parametrize(
    ("grid_side", "grid_is_maker"),
    [("sell", True), ("sell", False), ("buy", True), ("buy", False)],
)
def test_a_fee_receiver_that_trades_under_another_case_is_paid_once_and_conserves_watt(
    grid_side, grid_is_maker
):
    """One prosumer row, named in two cases (its orders' stored address and the rules'
    typed one), is one account: its trade and its fee both land, nothing is lost."""
    grid = fee_receiver_trading("grid-op", "GRID-OP")
    other = trader("other", watt="100", energy="50")
    other_side = "buy" if grid_side == "sell" else "sell"
    maker, taker = (grid, other) if grid_is_maker else (other, grid)
    maker_side, taker_side = (grid_side, other_side) if grid_is_maker else (other_side, grid_side)
    place(maker, maker_side, "10", "0.1000")
    result = place(taker, taker_side, "10", "0.1000")

    assert [(f.total, f.fee) for f in result.fills] == [(D("1.00"), D("0.05"))]
    paid = D("1.00") if grid_side == "sell" else D("-1.00") - D("0.05")
    assert balances("grid-op").watt_total == D("100") + paid + D("0.05")
    assert Prosumer.select().where(Prosumer.kind == "grid_operator").count() == 1
    assert invariants.check() == []


def test_unused_buy_reservation_is_released_when_bought_below_limit():
    place(trader("seller", energy="50"), "sell", "10", "0.2000")
    result = place(trader("buyer", watt="10"), "buy", "10", "0.3000")  # holds 3.15

    assert result.order.status == "filled"
    buyer = balances("buyer")
    assert (buyer.watt_total, buyer.watt_reserved) == (D("7.90"), 0)  # paid 2.00 + 0.10


def test_partial_fill_below_limit_keeps_only_what_the_remainder_needs():
    place(trader("seller", energy="50"), "sell", "4", "0.2000")
    result = place(trader("buyer", watt="10"), "buy", "10", "0.3000")

    buyer = balances("buyer")
    assert buyer.watt_total == D("9.16")  # paid 0.80 + 0.04
    assert buyer.watt_reserved == D("1.89")  # 6 x 0.30 = 1.80 + 0.09 fee
    assert order_row(result.order.id).watt_reserved == D("1.89")


# --- cancel and expiry ---------------------------------------------------------------


def test_cancel_releases_the_buy_reservation():
    buyer = trader("buyer", watt="10")
    order = place(buyer, "buy", "10", "0.1000").order

    view = cancel_order(buyer, order.id)

    assert view.status == "cancelled"
    row = order_row(order.id)
    assert (row.is_active, row.watt_reserved) == (False, 0)
    assert balances("buyer").watt_reserved == 0
    assert [e.event_type for e in audit_events("order_cancelled")] == ["order_cancelled"]


def test_cancel_of_partially_filled_sell_releases_only_the_unsold_energy():
    seller = trader("seller", energy="50")
    order = place(seller, "sell", "10", "0.1000").order
    place(trader("buyer", watt="10"), "buy", "4", "0.1000")

    cancel_order(seller, str(order.id))

    row = order_row(order.id)
    assert (row.status, row.filled_amount) == ("cancelled", D("4.00"))
    s = balances("seller")
    assert (s.energy_reserved, s.energy_sold, s.energy_available) == (0, D("4.00"), D("46.00"))


def test_sweep_expires_due_orders_and_releases_what_they_hold(monkeypatch):
    now = freeze(monkeypatch)
    buy = place(trader("buyer", watt="10"), "buy", "10", "0.1000", expires="1h").order
    sell = place(trader("seller", energy="50"), "sell", "5", "0.5000", expires="30m").order
    assert sweep_expired() == 0

    now.advance(hours=2)
    assert sweep_expired() == 2

    assert {order_row(o.id).status for o in (buy, sell)} == {"expired"}
    assert balances("buyer").watt_reserved == 0
    assert balances("seller").energy_reserved == 0
    assert len(audit_events("order_expired")) == 2
    assert sweep_expired() == 0


def test_expired_order_is_released_at_the_next_placement_without_a_sweep(monkeypatch):
    now = freeze(monkeypatch)
    stale = place(trader("seller", energy="50"), "sell", "5", "0.1000", expires="1h").order
    now.advance(hours=1)  # expires_at <= now: due

    result = place(trader("buyer", watt="10"), "buy", "5", "0.1000")

    assert (result.fills, result.order.status) == ([], "open")
    assert order_row(stale.id).status == "expired"
    assert balances("seller").energy_reserved == 0


def test_expired_order_leaves_the_book_before_anyone_sweeps(monkeypatch):
    now = freeze(monkeypatch)
    place(trader("seller", energy="50"), "sell", "5", "0.1000", expires="10m")
    assert market_book.book().best_ask == D("0.1000")
    now.advance(minutes=11)
    assert market_book.book().asks == []


def test_cancelling_an_order_that_expired_unswept_is_refused_and_releases_once(monkeypatch):
    now = freeze(monkeypatch)
    buyer = trader("buyer", watt="10")
    order = place(buyer, "buy", "10", "0.1000", expires="1h").order
    now.advance(hours=2)

    with pytest.raises(ValidationError, match="is already expired"):
        cancel_order(buyer, order.id)

    assert balances("buyer").watt_reserved in (0, D("1.05"))  # released once or not yet
    assert sweep_expired() in (0, 1)
    assert (order_row(order.id).status, balances("buyer").watt_reserved) == ("expired", 0)


def test_orders_expire_after_order_ttl_hours_by_default(monkeypatch):
    now = freeze(monkeypatch)
    buyer = trader("buyer", watt="10")
    default = place(buyer, "buy", "1", "0.1000").order
    set_rule("ORDER_TTL_HOURS", "0")
    forever = place(buyer, "buy", "1", "0.1000").order
    assert default.expires_at == now.now + dt.timedelta(hours=24)
    assert forever.expires_at is None


# --- statistics ----------------------------------------------------------------------


def cross(seller, buyer, amount: str, price: str) -> None:
    place(seller, "sell", amount, price)
    assert place(buyer, "buy", amount, price).fills


def test_daily_statistics_follow_each_trade_with_vwap(monkeypatch):
    now = freeze(monkeypatch)
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    place(seller, "sell", "1", "0.1000")
    place(seller, "sell", "2", "0.1001")
    place(buyer, "buy", "3", "0.2000")
    place(buyer, "buy", "1", "0.0500")  # rests

    row = MarketStatistics.get(MarketStatistics.date == now.now.date())
    assert (row.total_trades, row.total_volume) == (2, D("3.00"))
    assert row.average_price == D("0.1001")  # 0.3002 / 3 = 0.10006.. (volume weighted)
    assert (row.highest_price, row.lowest_price) == (D("0.1001"), D("0.1000"))
    assert (row.active_buy_orders, row.active_sell_orders) == (1, 0)
    assert stats.rebuild() == []


def test_failed_placement_leaves_neither_trade_nor_statistics(monkeypatch):
    place(trader("seller", energy="50"), "sell", "5", "0.1000")
    buyer = trader("buyer", watt="10")
    before = snapshot()

    real_record = stats.record
    # the Python path's statistics step (PostgreSQL's function runs as one statement,
    # all or nothing by itself: its refusals after trades are tested with FOK orders)
    monkeypatch.setattr(server, "ENABLED", False)

    def record_then_fail(*args, **kwargs):
        real_record(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(stats, "record", record_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        place(buyer, "buy", "5", "0.1000")

    assert snapshot() == before
    assert MarketStatistics.select().where(MarketStatistics.total_trades > 0).count() == 0


def test_statistics_split_trades_by_utc_day_and_rebuild_agrees(monkeypatch):
    now = freeze(monkeypatch, dt.datetime(2026, 3, 2, 23, 59, 30))
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    cross(seller, buyer, "1.5", "0.1300")
    now.advance(minutes=1)
    cross(seller, buyer, "2.25", "0.1700")
    cross(seller, buyer, "0.75", "0.1500")

    rows = list(MarketStatistics.select().order_by(MarketStatistics.date))
    assert [(r.date, r.total_trades, r.total_volume) for r in rows] == [
        (dt.date(2026, 3, 2), 1, D("1.50")),
        (dt.date(2026, 3, 3), 2, D("3.00")),
    ]
    assert rows[1].average_price == D("0.1650")  # (0.3825 + 0.1125) / 3
    assert stats.rebuild() == []


def test_stats_rebuild_reports_and_repairs_a_day_that_disagrees():
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    cross(seller, buyer, "2", "0.1000")
    MarketStatistics.update(total_volume=D("9.99"), total_trades=7).execute()

    (line,) = stats.rebuild()

    assert "9.99" in line
    row = MarketStatistics.get()
    assert (row.total_trades, row.total_volume, row.average_price) == (1, D("2.00"), D("0.1000"))
    assert stats.rebuild() == []


def test_candles_give_open_high_low_close_volume_per_interval(monkeypatch):
    now = freeze(monkeypatch, dt.datetime(2026, 3, 2, 10, 5))
    seller, buyer = trader("seller", energy="50"), trader("buyer", watt="100")
    for minutes, amount, price in (
        (0, "1", "0.1000"),
        (15, "2", "0.1400"),
        (30, "1", "0.1200"),
        (20, "3", "0.1100"),
    ):
        now.advance(minutes=minutes)
        cross(seller, buyer, amount, price)
    since = dt.datetime(2026, 3, 2)

    hourly = stats.candles(3600, since)
    quarter = stats.candles(900, since)
    daily = stats.candles(86400, since)

    assert [(c.start.hour, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in hourly] == [
        (10, D("0.1000"), D("0.1400"), D("0.1000"), D("0.1200"), D("4.00"), 3),
        (11, D("0.1100"), D("0.1100"), D("0.1100"), D("0.1100"), D("3.00"), 1),
    ]
    assert [(c.start.hour, c.start.minute) for c in quarter] == [
        (10, 0),
        (10, 15),
        (10, 45),
        (11, 0),
    ]
    assert [(c.start, c.volume, c.trades) for c in daily] == [(since, D("7.00"), 4)]


def test_market_version_moves_with_every_change_to_the_book():
    seller = trader("seller", energy="50")
    first = market_book.version()
    order = place(seller, "sell", "1", "0.1000").order
    second = market_book.version()
    cancel_order(seller, order.id)
    assert first < second < market_book.version()


def test_order_worth_less_than_a_cent_at_its_limit_is_refused_and_writes_nothing():
    buyer = trader("tiny-buyer", watt="10")
    with pytest.raises(ValidationError, match=r"worth less than 0\.01 WATT"):
        place(buyer, "buy", "0.01", "0.4000")
    assert EnergyOrder.select().count() == 0
    assert balances("tiny-buyer").watt_reserved == Decimal("0.00")


def test_a_fill_worth_less_than_a_cent_still_costs_one_cent():
    seller = trader("big-seller", energy="10")
    buyer = trader("slicer", watt="10")
    place(seller, "sell", "10", "0.1200")
    fill = place(buyer, "buy", "0.04", "0.2500").fills[0]  # 0.04 x 0.12 = 0.0048
    assert (fill.amount, fill.price, fill.total) == (
        Decimal("0.04"),
        Decimal("0.1200"),
        Decimal("0.01"),
    )
    assert fill.fee == Decimal("0.01")  # 0.01 x 5% rounded up: no trade escapes the fee
    assert balances("slicer").watt_total == Decimal("9.98")
    assert balances("big-seller").watt_total == Decimal("0.01")
