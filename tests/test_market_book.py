"""The book as a trader reads it: levels with their own resting size, on every backend."""

from __future__ import annotations

from decimal import Decimal

import pytest

from energy_tui.services.market import book as market_book
from energy_tui.services.market import cancel_order, invariants
from tests.market_support import place, trader

D = Decimal


@pytest.fixture(autouse=True)
def market(backend):
    yield backend
    assert invariants.check() == []


def test_the_book_read_for_me_gives_my_resting_size_on_each_level():
    me, other = trader("me", watt="50", energy="50"), trader("other", watt="50", energy="50")
    place(me, "sell", "1.25", "0.2100")
    place(me, "sell", "0.50", "0.2100")  # two of mine at one price: summed
    place(other, "sell", "3", "0.2100")
    place(other, "sell", "2", "0.2200")  # a level of someone else only
    place(me, "buy", "4", "0.1500")
    place(other, "buy", "0.10", "0.1400")

    book = market_book.book(depth=5, address="me")

    asks = [(lvl.price, lvl.quantity, lvl.mine) for lvl in book.asks]
    bids = [(lvl.price, lvl.quantity, lvl.mine) for lvl in book.bids]
    assert asks == [(D("0.2100"), D("4.75"), D("1.75")), (D("0.2200"), D("2.00"), D("0.00"))]
    assert bids == [(D("0.1500"), D("4.00"), D("4.00")), (D("0.1400"), D("0.10"), D("0.00"))]
    assert [lvl.orders for lvl in book.asks] == [3, 1]


def test_my_size_is_what_remains_after_fills_and_leaves_with_a_cancel():
    me, other = trader("me", energy="50"), trader("other", watt="50")
    kept = place(me, "sell", "3", "0.2000").order
    place(other, "buy", "1.20", "0.2000")  # fills 1.20 of mine

    (level,) = market_book.book(address="me").asks
    assert (level.quantity, level.mine) == (D("1.80"), D("1.80"))

    cancel_order(me, kept.id)
    assert market_book.book(address="me").asks == []


def test_the_book_read_for_no_one_marks_nothing():
    place(trader("me", energy="5"), "sell", "1", "0.2000")

    (level,) = market_book.book().asks
    (for_other,) = market_book.book(address="someone-else").asks

    assert level.mine == for_other.mine == D("0.00")
    assert level.quantity == for_other.quantity == D("1.00")


def test_my_open_orders_read_as_tuples_are_exactly_what_the_models_say():
    """`open_orders` reads fixed SQL as tuples (issue 15): the same exact Decimals,
    times, ids and fields as the models give, newest first, only the open ones."""
    from energy_tui.db.models import ORDER_IS_ACTIVE, EnergyOrder
    from energy_tui.services.market.views import OrderView

    me, other = trader("me", watt="50", energy="50"), trader("other", watt="50", energy="50")
    place(me, "buy", "1.10", "0.1234")
    place(me, "sell", "0.33", "0.3000")
    place(other, "buy", "0.20", "0.3000")  # fills part of my sell: partially filled
    gone = place(me, "buy", "2", "0.1100")
    cancel_order(me, gone.order.id)
    models = (
        EnergyOrder.select()
        .where(ORDER_IS_ACTIVE & (EnergyOrder.trader_address == "me"))
        .order_by(EnergyOrder.placed_seq.desc())
    )
    expected = [OrderView.of(row) for row in models]

    read = market_book.open_orders("me")

    assert read == expected and len(read) == 2
    assert [(o.filled, o.price, o.watt_reserved) for o in read] == [
        (D("0.20"), D("0.3000"), D("0.00")),
        (D("0.00"), D("0.1234"), expected[1].watt_reserved),
    ]
    assert all(isinstance(o.amount, Decimal) and o.amount.as_tuple().exponent == -2 for o in read)


def test_the_ladder_sums_its_levels_from_one_index_without_reading_order_rows(market):
    """Migration 0025: on a realistic book (~170 orders a level) reading a row per resting
    order cost 6-7 ms a side on SQLite; the levels come from the index alone."""
    from energy_tui.db.models import db
    from energy_tui.services.market import reads

    names = {index.name for index in db.get_indexes("energy_orders")}
    assert "energy_orders_book_levels" in names
    if market.name != "sqlite":
        return  # the plan's words are SQLite's; the index is there on every backend
    for mine in (False, True):
        bids, asks, _ = reads.book_statements("sqlite", mine)
        for sql in (bids, asks):
            own = ("me",) if mine else ()
            params = (*own, True, "buy", "2026-01-01 00:00:00", 12)
            plan = " ".join(
                str(row[-1]) for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "COVERING INDEX energy_orders_book_levels" in plan, plan
