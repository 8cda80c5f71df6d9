"""Fill-or-kill, market orders, amend, cancel-all and order history (issue 12), on every
backend. Every test leaves the six invariants of DESIGN §3 holding; every refusal
leaves the database as it was."""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal

import pytest

from energy_tui.db.models import (
    AuditLog,
    EnergyOrder,
    EnergyTrade,
    MarketState,
    MarketStatistics,
)
from energy_tui.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from energy_tui.services import audit
from energy_tui.services.market import (
    OrderRequest,
    amend_order,
    cancel_all,
    cancel_order,
    guard,
    invariants,
    order_request,
    place_order,
)
from energy_tui.services.market import book as market_book
from tests.clock_support import freeze
from tests.market_support import (
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
def market(backend, monkeypatch):
    freeze(monkeypatch)
    # an empty market's reference is the grid tariff: these tests trade around 0.10
    set_rule("GRID_IMPORT_PRICE", "0.1000")
    yield backend
    assert invariants.check() == []


def fills_of(result) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (f.seller_address if f.taker_side == "buy" else f.buyer_address, f.amount, f.price)
        for f in result.fills
    ]


def row(order_id) -> EnergyOrder:
    return EnergyOrder.get_by_id(order_id)


def refused(error: type[Exception], call, match: str) -> None:
    before = snapshot()
    with pytest.raises(error, match=match):
        call()
    assert snapshot() == before


def asks(*levels: tuple[str, str, str]):
    """Sell orders (seller, kWh, price), each seller with 20 kWh."""
    sellers = {}
    placed = []
    for name, amount, price in levels:
        if name not in sellers:
            sellers[name] = trader(name, energy="20")
        placed.append(place(sellers[name], "sell", amount, price).order)
    return sellers, placed


# --- fill or kill --------------------------------------------------------------------


def test_fok_that_cannot_fill_completely_does_nothing_but_record_why():
    asks(("s1", "1.2", "0.1000"), ("s2", "5", "0.1300"))
    buyer = trader("buyer", watt="50")
    before_book, before_balances = market_book.book(), balances("buyer")

    result = place(buyer, "buy", "2.5", "0.1200", fok=True)

    assert result.fills == []
    order = row(result.order.id)
    assert (order.status, order.is_active, order.filled_amount, order.watt_reserved) == (
        "cancelled",
        False,
        D("0.00"),
        D("0.00"),
    )
    assert order.time_in_force == "fok"
    assert order.status_reason == (
        "fill or kill: only 1.20 of 2.50 kWh could fill at once at 0.1200 or less"
    )
    assert result.order.reason == order.status_reason
    after_book = market_book.book()
    assert (after_book.bids, after_book.asks) == (before_book.bids, before_book.asks)
    assert balances("buyer") == before_balances
    assert EnergyTrade.select().count() == 0
    assert "fill or kill" in audit_events("order_created")[-1].event_data


def test_fok_that_can_fill_fills_everything_at_the_makers_prices():
    asks(("s1", "1.2", "0.1000"), ("s2", "5", "0.1100"))
    buyer = trader("buyer", watt="50")

    result = place(buyer, "buy", "2.5", "0.1200", fok=True)

    assert fills_of(result) == [("s1", D("1.20"), D("0.1000")), ("s2", D("1.30"), D("0.1100"))]
    assert result.order.status == "filled"
    assert balances("buyer").watt_reserved == D("0.00")


def test_fok_sell_counts_only_bids_at_or_above_its_limit():
    bidder = trader("bidder", watt="50")
    place(bidder, "buy", "1", "0.1000")
    place(bidder, "buy", "1", "0.0900")
    seller = trader("seller", energy="5")

    killed = place(seller, "sell", "2", "0.0950", fok=True)
    filled = place(seller, "sell", "2", "0.0900", fok=True)

    assert killed.order.reason == (
        "fill or kill: only 1.00 of 2.00 kWh could fill at once at 0.0950 or more"
    )
    assert [f.price for f in filled.fills] == [D("0.1000"), D("0.0900")]
    assert balances("seller").energy_reserved == D("0.00")


def test_ioc_and_fok_together_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="not both"):
        order_request("buy", "1", "0.1", ioc=True, fok=True)


def test_an_ioc_remainder_is_cancelled_with_its_reason():
    asks(("s1", "1", "0.1000"))
    result = place(trader("buyer", watt="50"), "buy", "3", "0.1000", ioc=True)

    assert result.order.reason == (
        "immediate or cancel: 2.00 of 3.00 kWh did not fill at once at 0.1000 or less"
    )


# --- market orders -------------------------------------------------------------------


def test_market_buy_with_a_cap_walks_the_book_and_stops_at_the_cap():
    asks(("s1", "1", "0.1000"), ("s2", "1", "0.1100"), ("s3", "5", "0.1300"))
    buyer = trader("buyer", watt="50")
    start = balances("buyer")

    result = place(buyer, "buy", "3", "0.1200", market=True)

    assert fills_of(result) == [("s1", D("1.00"), D("0.1000")), ("s2", D("1.00"), D("0.1100"))]
    order = row(result.order.id)
    assert (order.kind, order.price_per_kwh, order.status, order.time_in_force) == (
        "market",
        D("0.1200"),
        "cancelled",
        "ioc",
    )
    assert order.status_reason == (
        "market order: 1.00 of 3.00 kWh found no sell order at or below its cap 0.1200"
    )
    spent = sum((f.buyer_total for f in result.fills), D(0))
    assert balances("buyer").watt_total == start.watt_total - spent
    assert balances("buyer").watt_reserved == D("0.00")
    assert market_book.book().best_ask == D("0.1300")  # never rests, never trades past


def test_market_buy_without_a_cap_takes_the_price_band_around_the_last_trade():
    asks(("s1", "1", "0.1000"), ("s2", "5", "0.1200"), ("s3", "5", "0.1201"))
    buyer = trader("buyer", watt="50")
    place(buyer, "buy", "1", "0.1000")  # last trade 0.1000: default cap 0.1000 + 20%

    result = place(buyer, "buy", "8", "", market=True)

    assert result.order.price == D("0.1200")
    assert [f.price for f in result.fills] == [D("0.1200")]
    assert result.order.reason == (
        "market order: 3.00 of 8.00 kWh found no sell order at or below its cap 0.1200 "
        "(default cap: last trade 0.1000 + the 20% price band)"
    )


def _last_trade_at(price: str) -> None:
    tag = price.replace(".", "")
    place(trader(f"tape-s{tag}", energy="5"), "sell", "1", price)
    place(trader(f"tape-b{tag}", watt="5"), "buy", "1", price)


def _shown_cap(side: str, amount: str) -> OrderRequest:
    """The market order as the preview showed it: its default cap, confirmed."""
    shown = market_book.preview(None, side, D(amount), None, market=True)
    request = order_request(side, amount, "", market=True)
    return dataclasses.replace(request, price=shown.cap, shown_cap=True)


def test_market_buy_places_at_the_default_cap_it_was_shown_though_the_market_moved():
    asks(("s1", "5", "0.1190"), ("s2", "5", "0.1240"))
    buyer = trader("buyer", watt="50")
    _last_trade_at("0.1000")
    request = _shown_cap("buy", "6")  # shown: cap 0.1200
    _last_trade_at("0.1050")  # now the default would be 0.1260, and 0.1240 would fill

    result = place_order(buyer, request)

    assert result.order.price == D("0.1200")
    assert [(f.amount, f.price) for f in result.fills] == [(D("5.00"), D("0.1190"))]
    assert "the default cap shown when it was confirmed" in (result.order.reason or "")


@pytest.mark.parametrize(
    ("side", "then", "moved"), [("buy", "0.0900", "0.1200"), ("sell", "0.1200", "0.0800")]
)
def test_market_order_at_a_shown_cap_the_band_has_left_is_refused_saying_why(side, then, moved):
    actor = trader("buyer", watt="50", energy="20")
    _last_trade_at("0.1000")
    request = _shown_cap(side, "1")
    assert request.price == D(moved)
    _last_trade_at(then)  # the band moved: the shown cap lies outside it now

    refused(
        ValidationError,
        lambda: place_order(actor, request),
        f"the market moved: the default cap {moved} you confirmed is now outside the 20% "
        f"price band around the last trade {then}",
    )


def test_market_sell_without_a_cap_uses_the_mid_when_nothing_traded_yet():
    bidder = trader("bidder", watt="100")
    place(bidder, "buy", "2", "0.0800")
    place(bidder, "buy", "2", "0.0790")
    place(trader("asker", energy="5"), "sell", "1", "0.1200")  # mid 0.1000: cap 0.0800
    seller = trader("seller", energy="10")

    result = place(seller, "sell", "5", None, market=True)

    assert result.order.price == D("0.0800")
    assert [(f.amount, f.price) for f in result.fills] == [(D("2.00"), D("0.0800"))]
    assert "mid 0.1000 - the 20% price band" in (result.order.reason or "")
    assert balances("seller").energy_reserved == D("0.00")


def test_market_order_needs_a_cap_when_there_is_no_reference_and_says_so():
    asks(("s1", "1", "0.1000"))  # one side only: no mid, no trade
    buyer = trader("buyer", watt="50")

    refused(
        ValidationError,
        lambda: place(buyer, "buy", "1", "", market=True),
        r"a market buy needs a price cap \(--max-price.*no last trade and no bid and ask",
    )


def test_market_buy_reserves_amount_times_cap_and_is_refused_beyond_the_balance():
    asks(("s1", "10", "0.1000"))
    buyer = trader("buyer", watt="1")  # 10 x 0.1200 + fee = 1.26 > 1

    refused(
        InsufficientFunds,
        lambda: place(buyer, "buy", "10", "0.1200", market=True),
        "needs 1.26 WATT",
    )


def test_market_buy_never_spends_more_than_amount_times_cap_plus_fee():
    # three 1 kWh asks at the cap: each trade pays its own fee, rounded up to 0.01, so
    # taking all three costs 0.03 + 3 x 0.01 = 0.06 against a hold of 0.03 + 0.01
    asks(("s1", "1", "0.0105"), ("s2", "1", "0.0105"), ("s3", "1", "0.0105"))
    buyer = trader("buyer", watt="5")
    start = balances("buyer")
    hold = RULES.buyer_cost(D("3"), D("0.0105"))

    result = place(buyer, "buy", "3", "0.0105", market=True)

    spent = start.watt_total - balances("buyer").watt_total
    assert spent == sum((f.buyer_total for f in result.fills), D(0))
    assert spent <= hold == D("0.04")
    assert (result.order.filled, result.order.status) == (D("2.00"), "cancelled")
    assert "0.04 WATT" in (result.order.reason or "")
    assert balances("buyer").watt_reserved == D("0.00")


def test_market_fok_buy_that_its_hold_cannot_pay_in_full_does_nothing():
    asks(("s1", "1", "0.0105"), ("s2", "1", "0.0105"))  # 2 x (0.01 + 0.01) > 0.02 + 0.01
    buyer = trader("buyer", watt="5")

    refused(
        ValidationError,
        lambda: place(buyer, "buy", "2", "0.0105", market=True, fok=True),
        "fill or kill",
    )


def test_market_fok_is_all_or_nothing():
    asks(("s1", "1", "0.1000"), ("s2", "1", "0.1500"))
    buyer = trader("buyer", watt="50")

    killed = place(buyer, "buy", "2", "0.1200", market=True, fok=True)
    filled = place(buyer, "buy", "1", "0.1200", market=True, fok=True)

    assert (killed.order.kind, killed.order.status, killed.fills) == ("market", "cancelled", [])
    assert killed.order.time_in_force == "fok"
    assert filled.order.status == "filled"


def test_preview_of_a_market_order_shows_the_walk_and_the_worst_price():
    asks(("s1", "1", "0.1000"), ("s2", "1", "0.1100"), ("s3", "5", "0.1300"))
    trader("buyer", watt="50")

    capped = market_book.preview("buyer", "buy", D("3"), D("0.1200"), market=True)

    assert (capped.fill_now, capped.worst_price, capped.cap, capped.kind) == (
        D("2.00"),
        D("0.1100"),
        D("0.1200"),
        "market",
    )
    # no trade yet, no bid: the default cap needs a reference
    with pytest.raises(ValidationError, match="needs a price cap"):
        market_book.preview("buyer", "buy", D("3"), None, market=True)
    place(trader("bidder", watt="50"), "buy", "1", "0.0800")  # mid 0.0900: cap 0.1080
    by_default = market_book.preview("buyer", "buy", D("3"), None, market=True)
    assert (by_default.cap, by_default.worst_price, by_default.fill_now) == (
        D("0.1080"),
        D("0.1000"),
        D("1.00"),
    )
    assert by_default.cap_note == "default cap: mid 0.0900 + the 20% price band"


def test_a_fok_sell_a_buyer_cannot_pay_for_says_what_happened_and_not_try_again():
    # 10 kWh at 0.0100 holds 0.11 WATT; each 1 kWh fill costs 0.01 + a 0.01 fee: after
    # five fills the buyer, with nothing else available, cannot pay the sixth
    buyer = trader("buyer", watt="0.11")
    place(buyer, "buy", "10", "0.0100")
    seller = trader("seller", energy="10")
    for _ in range(5):
        place(seller, "sell", "1", "0.0100")
    assert (balances("buyer").watt_reserved, balances("buyer").watt_available) == (
        D("0.01"),
        D("0.00"),
    )

    before = snapshot()
    with pytest.raises(ValidationError) as refusal:
        place(seller, "sell", "1", "0.0100", fok=True)

    assert snapshot() == before
    assert str(refusal.value) == (
        "fill or kill: only 0.00 of 1.00 kWh could fill at once at 0.0100 or more: 1 buy "
        "order on the book counted for the rest, but its owner could not pay the rounding "
        "cent of the trade (each trade's price and fee are rounded to the cent); nothing "
        "was done. The same order is refused again while its owner cannot pay; an IOC or "
        "GTC sell trades what it can (and the market then cancels such a buy order)"
    )
    ioc = place(seller, "sell", "1", "0.0100", ioc=True).order  # as the message says
    assert (ioc.status, ioc.filled) == ("cancelled", D("0.00"))
    assert market_book.open_summary("buyer").count == 0
    killed = place(seller, "sell", "1", "0.0100", fok=True).order  # nothing left to take it
    assert killed.reason == (
        "fill or kill: only 0.00 of 1.00 kWh could fill at once at 0.0100 or more"
    )


# --- amend -----------------------------------------------------------------------------


def two_sells_at_one_price():
    sellers, (first, second) = asks(("s1", "2", "0.1000"), ("s2", "2", "0.1000"))
    return sellers, first, second


def test_amend_down_keeps_time_priority():
    sellers, first, _second = two_sells_at_one_price()

    result = amend_order(sellers["s1"], first.id, amount="1")

    assert (result.order.amount, result.fills) == (D("1.00"), [])
    assert row(first.id).seq == first_seq(first)
    taken = place(trader("buyer", watt="50"), "buy", "1", "0.1000")
    assert fills_of(taken) == [("s1", D("1.00"), D("0.1000"))]
    assert balances("s1").energy_reserved == D("0.00")


def test_an_amend_typed_against_a_stale_view_is_refused_and_changes_nothing():
    """Two terminals of one trader: one amended the price meanwhile; the other's amount
    change, sent with what it showed, must not apply to an order it has not seen."""
    sellers, first, _second = two_sells_at_one_price()
    shown = (first.price, first.amount)
    amend_order(sellers["s1"], first.id, price="0.1200")  # the other terminal

    refused(
        Conflict,
        lambda: amend_order(sellers["s1"], first.id, amount="1", expected=shown),
        "changed since you opened it: it is now 2.00 kWh at 0.1200",
    )

    now = row(first.id)
    result = amend_order(
        sellers["s1"], first.id, amount="1", expected=(now.price_per_kwh, now.energy_amount)
    )
    assert (result.order.amount, result.order.price) == (D("1.00"), D("0.1200"))


def first_seq(order) -> int:
    return row(order.id).seq


def test_amend_up_loses_time_priority():
    sellers, first, second = two_sells_at_one_price()
    seq_before = row(first.id).seq

    amend_order(sellers["s1"], first.id, amount="3")

    assert row(first.id).seq > row(second.id).seq > seq_before
    taken = place(trader("buyer", watt="50"), "buy", "2", "0.1000")
    assert fills_of(taken) == [("s2", D("2.00"), D("0.1000"))]
    assert balances("s1").energy_reserved == D("3.00")
    (event,) = audit_events("order_amended")
    assert '"priority": "lost"' in event.event_data


def test_amend_to_a_new_price_goes_to_the_back_of_the_new_level():
    sellers, (a, _b, _c) = asks(("s1", "1", "0.1100"), ("s2", "1", "0.1000"), ("s3", "1", "0.1000"))

    amend_order(sellers["s1"], a.id, price="0.1000")

    taken = place(trader("buyer", watt="50"), "buy", "3", "0.1000")
    assert [name for name, _, _ in fills_of(taken)] == ["s2", "s3", "s1"]


def test_amended_price_that_crosses_trades_at_once_at_the_makers_prices():
    asks(("s1", "1", "0.1000"), ("s2", "1", "0.1100"), ("s3", "1", "0.1300"))
    buyer = trader("buyer", watt="50")
    bid = place(buyer, "buy", "3", "0.0900").order
    start = balances("buyer")

    result = amend_order(buyer, bid.id, price="0.1200", confirmed=True)

    assert fills_of(result) == [("s1", D("1.00"), D("0.1000")), ("s2", D("1.00"), D("0.1100"))]
    assert (result.order.status, result.order.filled, result.order.price) == (
        "partially_filled",
        D("2.00"),
        D("0.1200"),
    )
    assert all(f.taker_side == "buy" for f in result.fills)
    # what stays held is exactly the rest at the new limit, fee included
    assert balances("buyer").watt_reserved == RULES.buyer_cost(D("1"), D("0.1200"))
    spent = sum((f.buyer_total for f in result.fills), D(0))
    assert balances("buyer").watt_total == start.watt_total - spent


def test_amend_that_fills_completely_closes_the_order():
    asks(("s1", "1", "0.1000"))
    buyer = trader("buyer", watt="50")
    bid = place(buyer, "buy", "1", "0.0900").order

    result = amend_order(buyer, bid.id, price="0.1000")

    assert (result.order.status, row(bid.id).is_active) == ("filled", False)
    assert balances("buyer").watt_reserved == D("0.00")


def test_amend_moves_the_buy_hold_exactly_and_keeps_fills():
    _sellers, _ = asks(("s1", "1", "0.1000"))
    buyer = trader("buyer", watt="50")
    bid = place(buyer, "buy", "4", "0.1000").order  # fills 1, rests 3

    amend_order(buyer, bid.id, amount="6", price="0.0950")

    assert balances("buyer").watt_reserved == RULES.buyer_cost(D("5"), D("0.0950"))
    order = row(bid.id)
    assert (order.energy_amount, order.filled_amount, order.status) == (
        D("6.00"),
        D("1.00"),
        "partially_filled",
    )


def test_amend_refusals_say_why_and_write_nothing():
    sellers, (resting,) = asks(("s1", "4", "0.1000"))
    s1 = sellers["s1"]
    buyer = trader("buyer", watt="50")
    place(buyer, "buy", "1", "0.1000")  # resting has 1 filled
    gone = place(s1, "sell", "1", "0.2000").order
    cancel_order(s1, gone.id)

    refused(ValidationError, lambda: amend_order(s1, resting.id), "a new price, a new amount")
    refused(
        ValidationError,
        lambda: amend_order(s1, resting.id, amount="0.5"),
        "1.00 kWh of this order have filled already",
    )
    refused(
        ValidationError,
        lambda: amend_order(s1, resting.id, amount="1"),
        "cannot go to 1.00 kWh.*cancel the order",
    )
    refused(ValidationError, lambda: amend_order(s1, resting.id, amount="4"), "nothing to change")
    refused(ValidationError, lambda: amend_order(s1, gone.id, price="0.1"), "is cancelled")
    with pytest.raises(PermissionDenied, match="not yours"):
        amend_order(buyer, resting.id, amount="2")
    assert audit_events("permission_denied")[-1].event_data.count("amend order") == 1
    refused(InsufficientFunds, lambda: amend_order(s1, resting.id, amount="30"), "more needs")
    refused(ValidationError, lambda: amend_order(s1, resting.id, price="abc"), "price")
    with pytest.raises(NotFound):
        amend_order(s1, "00000000-0000-0000-0000-000000000000", price="0.1")


def test_amend_refuses_a_price_that_would_cross_ones_own_order():
    seller = trader("both", watt="50", energy="10")
    sell = place(seller, "sell", "1", "0.1200").order
    buy = place(seller, "buy", "1", "0.1000").order

    refused(ValidationError, lambda: amend_order(seller, buy.id, price="0.1300"), "your own")
    assert row(sell.id).is_active


def test_amend_applies_the_fat_finger_guard_and_the_minimum_value():
    asks(("s1", "1", "0.1000"))
    buyer = trader("buyer", watt="50")
    place(buyer, "buy", "1", "0.1000")  # last trade 0.1000
    bid = place(buyer, "buy", "1", "0.0900").order

    refused(
        guard.Unconfirmed,
        lambda: amend_order(buyer, bid.id, price="0.0500"),
        "more than 20% away",
    )
    refused(ValidationError, lambda: amend_order(buyer, bid.id, amount="0.01"), "minimum")
    result = amend_order(buyer, bid.id, price="0.0500", confirmed=True)
    assert result.order.price == D("0.0500")
    # a smaller amount only lowers the risk: no question asked
    amend_order(buyer, bid.id, amount="0.5")


def test_an_expired_order_cannot_be_amended(monkeypatch):
    clock = freeze(monkeypatch)
    sellers, _ = asks(("s1", "1", "0.1000"))
    order = place(sellers["s1"], "sell", "1", "0.2000", expires="1h").order
    clock.advance(hours=2)

    refused(ValidationError, lambda: amend_order(sellers["s1"], order.id, price="0.1"), "expired")


# --- cancel all and history ---------------------------------------------------------------


def test_cancel_all_releases_everything_and_is_audited():
    both = trader("both", watt="50", energy="10")
    place(both, "buy", "2", "0.0900")
    place(both, "buy", "1", "0.0800")
    place(both, "sell", "3", "0.2000")
    held = balances("both")
    summary = market_book.open_summary("both")
    newest = EnergyOrder.select().order_by(EnergyOrder.placed_seq.desc()).first().placed_seq
    assert summary == market_book.OpenSummary(3, held.watt_reserved, D("3.00"), newest)
    assert market_book.open_summary("both", "sell") == market_book.OpenSummary(
        1, D("0.00"), D("3.00"), newest
    )

    sells = cancel_all(both, "sell")
    assert (len(sells.orders), sells.released_watt, sells.released_energy) == (
        1,
        D("0.00"),
        D("3.00"),
    )
    rest = cancel_all(both)

    assert (len(rest.orders), rest.released_watt, rest.released_energy) == (
        2,
        held.watt_reserved,
        D("0.00"),
    )
    assert {o.status for o in rest.orders} == {"cancelled"}
    assert (balances("both").watt_reserved, balances("both").energy_reserved) == (
        D("0.00"),
        D("0.00"),
    )
    assert market_book.open_summary("both").count == 0
    assert cancel_all(both).orders == []
    events = [e for e in audit_events("order_cancelled") if '"scope": "all"' in e.event_data]
    assert len(events) == 2
    assert row(rest.orders[0].id).status_reason == "cancelled with all open orders of its owner"


def test_cancel_all_cancels_only_the_orders_the_question_showed():
    # the question is asked; then another terminal (a bot, the API) places an order
    both = trader("both", watt="50", energy="10")
    shown_buy = place(both, "buy", "2", "0.0900").order
    shown_sell = place(both, "sell", "3", "0.2000").order
    summary = market_book.open_summary("both")
    newer = place(both, "buy", "1", "0.0800").order

    done = cancel_all(both, up_to_placed_seq=summary.up_to_placed_seq)

    assert {o.id for o in done.orders} == {shown_buy.id, shown_sell.id}
    assert (done.count, done.released_watt, done.released_energy, done.left_newer) == (
        summary.count,
        summary.watt_reserved,
        summary.energy_reserved,
        1,
    )
    assert (row(newer.id).status, row(newer.id).is_active) == ("open", True)
    assert balances("both").watt_reserved == newer.watt_reserved
    event = json.loads(audit_events("order_cancelled")[-1].event_data)
    assert (event["orders"], event["left_newer"]) == (2, 1)


def test_cancel_all_of_one_side_counts_only_newer_orders_of_that_side():
    both = trader("both", watt="50", energy="10")
    place(both, "sell", "3", "0.2000")
    summary = market_book.open_summary("both", "sell")
    place(both, "buy", "1", "0.0800")  # the other side: not "left", never asked about
    place(both, "sell", "1", "0.2100")

    done = cancel_all(both, "sell", up_to_placed_seq=summary.up_to_placed_seq)

    assert (done.count, done.left_newer) == (1, 1)
    assert market_book.open_summary("both").count == 2


def test_an_order_past_its_expiry_reads_as_expired_everywhere_before_any_sweep(monkeypatch):
    clock = freeze(monkeypatch)
    both = trader("both", watt="50", energy="10")
    due = place(both, "buy", "2", "0.0900", expires="1h").order
    live = place(both, "sell", "3", "0.2000").order
    clock.advance(hours=2)  # the buy's lifetime ran out; nothing has swept it yet
    stored = snapshot()

    def ids(status: str) -> list:
        return [o.id for o in market_book.order_history("both", status=status)]

    assert ids("open") == [live.id]
    assert ids("expired") == [due.id]
    (expired,) = market_book.order_history("both", status="expired")
    assert (expired.status, expired.reason) == ("expired", "its lifetime ran out (expires_at)")
    assert {o.id: o.status for o in market_book.order_history("both")} == {
        due.id: "expired",
        live.id: "open",
    }
    assert market_book.get_order(due.id).status == "expired"
    assert market_book.order_with_average(due.id).status == "expired"
    assert [o.id for o in market_book.open_orders("both")] == [live.id]
    assert [o.id for o in market_book.orders("both")] == [live.id]
    assert snapshot() == stored  # read as of now: nothing written
    assert row(due.id).status == "open"


def test_order_history_filters_by_status_and_gives_the_exact_average_fill_price(monkeypatch):
    clock = freeze(monkeypatch)
    asks(("s1", "1", "0.1000"), ("s2", "2", "0.1001"))
    buyer = trader("buyer", watt="50")
    clock.advance(hours=1)
    filled = place(buyer, "buy", "3", "0.1100").order  # 0.1000 x 1 + 0.1001 x 2
    clock.advance(minutes=1)
    later = clock.now
    resting = place(buyer, "buy", "1", "0.0500").order
    cancel_order(buyer, resting.id)
    open_one = place(buyer, "buy", "1", "0.0600").order

    every = market_book.order_history("buyer")
    assert [o.id for o in every] == [open_one.id, resting.id, filled.id]
    by_id = {o.id: o for o in every}
    # (0.1000 + 0.2002) / 3 = 0.100066... -> 0.1001 (half-even, 4 places)
    assert by_id[filled.id].average_price == D("0.1001")
    assert by_id[resting.id].average_price is None
    assert by_id[resting.id].reason == "cancelled by its owner"
    assert [o.id for o in market_book.order_history("buyer", status="open")] == [open_one.id]
    assert [o.id for o in market_book.order_history("buyer", status="filled")] == [filled.id]
    assert [o.id for o in market_book.order_history("buyer", status="cancelled")] == [resting.id]
    assert market_book.order_history("buyer", status="expired") == []
    assert [o.id for o in market_book.order_history("buyer", since=later)] == [
        open_one.id,
        resting.id,
    ]
    with pytest.raises(ValidationError, match="status"):
        market_book.order_history("buyer", status="bogus")
    seller_view = market_book.order_history("s2")[0]
    assert seller_view.average_price == D("0.1001")


def test_order_history_stays_newest_placed_first_after_an_amendment(monkeypatch):
    clock = freeze(monkeypatch)
    buyer = trader("buyer", watt="50")
    first = place(buyer, "buy", "1", "0.0900").order
    clock.advance(minutes=1)
    second = place(buyer, "buy", "1", "0.0800").order
    clock.advance(seconds=1)
    third = place(buyer, "buy", "1", "0.0700").order
    clock.advance(minutes=1)
    amend_order(buyer, first.id, price="0.0850")  # a new seq: the back of its new level
    amend_order(buyer, second.id, amount="2")

    assert [o.id for o in market_book.order_history("buyer")] == [third.id, second.id, first.id]
    assert [o.id for o in market_book.order_history("buyer", limit=1)] == [third.id]
    assert [o.id for o in market_book.orders("buyer")] == [third.id, second.id, first.id]
    assert [o.id for o in market_book.open_orders("buyer")] == [third.id, second.id, first.id]


def test_a_resting_buy_that_cannot_pay_its_rounding_cent_is_cancelled_with_the_reason():
    # 1 kWh at 0.0200 holds 0.02 + 0.01; the first half-kWh trade costs 0.01 + 0.01,
    # leaving 0.01 held for a second one that costs 0.02, with nothing else available
    bidder = trader("bidder", watt="0.03")
    bid = place(bidder, "buy", "1", "0.0200").order
    seller = trader("seller", energy="5")
    place(seller, "sell", "0.5", "0.0200")

    result = place(seller, "sell", "0.5", "0.0200", ioc=True)

    assert result.fills == []
    closed = row(bid.id)
    assert (closed.status, closed.is_active, closed.watt_reserved) == (
        "cancelled",
        False,
        D("0.00"),
    )
    assert closed.status_reason is not None
    assert "rounding" in closed.status_reason
    assert balances("bidder").watt_reserved == D("0.00")


def test_a_killed_fok_that_expired_orders_on_the_way_records_the_open_counts(monkeypatch):
    clock = freeze(monkeypatch)
    bidder = trader("bidder", watt="10")
    place(bidder, "buy", "1", "0.0900", expires="1h")
    place(bidder, "buy", "1", "0.0800")
    clock.advance(hours=2)  # the first bid is due: the next placement expires it
    seller = trader("seller", energy="5")

    killed = place(seller, "sell", "3", "0.0800", fok=True)

    assert killed.order.status == "cancelled"
    state = MarketState.get_by_id(1)
    day = MarketStatistics.get(MarketStatistics.date == clock.now.date())
    assert (state.open_buy_orders, day.active_buy_orders) == (1, 1)


def test_amending_a_buy_down_never_asks_for_more_money():
    # 2 kWh at 0.0150 hold 0.03 + 0.01; a 1 kWh trade costs 0.02 + 0.01 (per-trade
    # rounding), leaving 0.01 held for a remainder a new order would hold 0.03 for.
    # Making it smaller (0.9 kWh left, 0.02 for a new order) must not ask for a cent
    bidder = trader("bidder", watt="0.04")
    bid = place(bidder, "buy", "2", "0.0150").order
    place(trader("seller", energy="5"), "sell", "1", "0.0150")
    assert row(bid.id).watt_reserved == D("0.01")

    result = amend_order(bidder, bid.id, amount="1.9")

    assert (result.order.amount, result.order.status) == (D("1.90"), "partially_filled")
    assert row(bid.id).watt_reserved == D("0.01")
    assert balances("bidder").watt_reserved == D("0.01")


def _resting_buys(address: str, count: int) -> None:
    """`count` open 1 kWh buys at 0.0500 of `address`, written in bulk (as `count`
    placements would leave them, holding 0.05 + 0.01 each)."""
    from energy_tui.db.ids import new_id
    from energy_tui.db.models import Prosumer
    from energy_tui.services.market.money import CENT

    now = MarketState.get_by_id(1).updated_at
    state = MarketState.get_by_id(1)
    hold = D("0.05") + CENT
    rows = [
        {
            "id": new_id(),
            "trader_address": address,
            "order_type": "buy",
            "energy_amount": D("1.00"),
            "price_per_kwh": D("0.0500"),
            "is_active": True,
            "created_at": now,
            "filled_amount": D("0.00"),
            "status": "open",
            "time_in_force": "gtc",
            "updated_at": now,
            "watt_reserved": hold,
            "seq": state.order_seq + 1 + i,
        }
        for i in range(count)
    ]
    for start in range(0, count, 200):
        EnergyOrder.insert_many(rows[start : start + 200]).execute()
    Prosumer.update(watt_reserved=Prosumer.watt_reserved + hold * count).where(
        Prosumer.address == address
    ).execute()
    MarketState.update(
        order_seq=state.order_seq + count, open_buy_orders=state.open_buy_orders + count
    ).where(MarketState.id == 1).execute()


def test_cancel_all_of_very_many_orders_is_audited_in_full_on_every_backend():
    # one event listing 1,700 ids is about 68 KB: more than a MySQL/MariaDB TEXT holds
    bot = trader("bot", watt="200")
    _resting_buys("bot", 1700)

    done = cancel_all(bot)

    assert done.count == 1700
    assert (done.released_watt, balances("bot").watt_reserved) == (D("102.00"), D("0.00"))
    listed = []
    for event in audit_events("order_cancelled"):
        data = json.loads(event.event_data)
        assert data["scope"] == "all"
        listed += re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", str(data["order_ids"]))
    assert sorted(listed) == sorted(str(o.id) for o in done.orders)


def test_cancel_all_stores_its_order_ids_as_a_json_array_and_reads_old_rows_too():
    both = trader("both", watt="50", energy="10")
    place(both, "buy", "2", "0.0900")
    place(both, "sell", "3", "0.2000")

    done = cancel_all(both)

    (event,) = audit_events("order_cancelled")
    stored = json.loads(event.event_data)["order_ids"]
    assert stored == [str(o.id) for o in done.orders]  # an array, not the text of one
    # a row written before: the ids as the text of a Python list
    old = ["3f2b8c1e-0000-4000-8000-000000000001", "3f2b8c1e-0000-4000-8000-000000000002"]
    AuditLog.create(
        created_at=event.created_at,
        event_type="order_cancelled",
        actor="user:both",
        outcome="success",
        event_data=json.dumps({"order_ids": str(old), "scope": "all", "reason": "[as typed]"}),
    )
    newest, first = audit.entries(event_type="order_cancelled")[:2]
    assert (newest.data["order_ids"], newest.data["reason"]) == (old, "[as typed]")
    assert first.data["order_ids"] == stored


def test_cancel_all_question_does_not_count_orders_that_have_expired(monkeypatch):
    clock = freeze(monkeypatch)
    both = trader("both", watt="50", energy="10")
    place(both, "buy", "2", "0.0900", expires="1h")
    place(both, "sell", "3", "0.2000")
    clock.advance(hours=2)  # the buy is due; nothing has swept it yet

    summary = market_book.open_summary("both")
    done = cancel_all(both)

    assert (summary.count, summary.watt_reserved, summary.energy_reserved) == (
        1,
        D("0.00"),
        D("3.00"),
    )
    assert (done.count, done.released_watt, done.released_energy) == (
        summary.count,
        summary.watt_reserved,
        summary.energy_reserved,
    )
