"""The market `benchmarks/book.py` fills (and `benchmarks/tui.py` shows) is one a market
could hold: every price above 0 and within the fat-finger band of the market's
reference price, on every backend."""

from __future__ import annotations

import random
from decimal import Decimal

from benchmarks.book import fill
from energy_tui.db.models import EnergyOrder, EnergyTrade
from energy_tui.services.market import book as market_book
from energy_tui.services.market.guard import assess, reference_price
from energy_tui.services.market.orders import OrderRequest
from energy_tui.services.market.rules import current

_MANY = Decimal(10**9)  # so that only the price can make the guard object


def test_the_benchmark_market_has_prices_above_zero_within_the_band(backend):
    fill(orders=3000, trades=600, rng=random.Random(7))
    rules = current()
    reference = reference_price(market_book.book(depth=1), rules)

    prices = EnergyOrder.select(EnergyOrder.order_type, EnergyOrder.price_per_kwh).tuples()
    assert len(prices) == 3000
    far = [
        (side, price)
        for side, price in prices
        if price <= 0
        or assess(OrderRequest(side, Decimal(1), price), reference, _MANY, rules).reasons
    ]
    assert far == []
    assert min(t.price_per_kwh for t in EnergyTrade.select()) > 0
    book = market_book.book(depth=1)
    assert book.best_bid is not None and book.best_ask is not None
    assert book.best_bid < book.best_ask  # the book is not crossed
