"""The fat-finger guard (services.market.guard), through the service and the CLI, on every
backend: a price more than the band from the reference, or an order committing more
than half of what is available, needs the trader's confirmation (`--yes`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from energy_tui.services.market import MarketRules, guard, order_request
from tests.key_support import key_file
from tests.market_support import RULES, key_for, place, snapshot, trader

D = Decimal


@pytest.fixture
def market(backend):
    """Alice (100 WATT, 10 kWh), Bob (100 WATT, 50 kWh); one trade at 0.2500."""
    alice = trader("alice", watt="100", energy="10")
    bob = trader("bob", watt="100", energy="50")
    place(bob, "sell", "1", "0.2500")
    place(alice, "buy", "1", "0.2500")
    return alice, bob


def caution(side: str, amount: str, price: str, rules: MarketRules = RULES) -> guard.Caution:
    return guard.check("alice", order_request(side, amount, price, rules), rules)


def test_a_price_within_the_band_of_the_last_trade_needs_no_confirmation(market):
    for price in ("0.2000", "0.2500", "0.3000"):  # 20% either side is still inside
        assert caution("buy", "1", price).reasons == ()


def test_a_price_beyond_the_band_says_how_far_from_what(market):
    far = caution("buy", "1", "2.5000")
    assert far.reasons == (
        "the price 2.5000 is 900% above the last trade 0.2500 (more than 20% away)",
    )
    low = caution("sell", "1", "0.1900")
    assert low.reasons == (
        "the price 0.1900 is 24% below the last trade 0.2500 (more than 20% away)",
    )
    assert low.reference == guard.Reference(D("0.2500"), "last trade")


def test_the_band_is_the_markets_rule(market):
    wide = MarketRules(price_band_percent=D("1000"))
    assert caution("buy", "1", "2.5000", wide).reasons == ()


def test_without_trades_the_mid_then_the_grid_tariff_is_the_reference(backend):
    trader("alice", watt="100", energy="10")
    bob = trader("bob", watt="100", energy="50")
    assert caution("buy", "1", "0.3100").reference == guard.Reference(D("0.2500"), "grid tariff")
    assert "above the grid tariff 0.2500" in caution("buy", "1", "0.3100").reasons[0]
    place(bob, "sell", "1", "0.1200")
    place(bob, "buy", "1", "0.1000")
    assert caution("buy", "1", "0.1100").reference == guard.Reference(D("0.1100"), "mid")
    assert caution("buy", "1", "0.1100").reasons == ()


def test_a_buy_committing_more_than_half_the_watt_asks_with_the_fee_counted(market):
    # (the fee rounds up to the cent: 2.3625 -> 2.37; 99.73 left after the fixture's trade)
    alice = caution("buy", "189", "0.2500")  # 47.25 + fee 2.37 = 49.62 of 99.73
    assert (alice.commit, alice.available, alice.reasons) == (D("49.62"), D("99.73"), ())
    large = caution("buy", "190", "0.2500")  # 47.50 + 2.38 = 49.88: more than half
    assert large.reasons == ("it commits 49.88 of your 99.73 WATT available (more than half)",)


def test_a_sell_committing_more_than_half_the_energy_asks(market):
    assert caution("sell", "5.50", "0.2500").reasons == ()  # 11.00 kWh available
    assert caution("sell", "5.51", "0.2500").reasons == (
        "it commits 5.51 of your 11.00 kWh available (more than half)",
    )


def test_an_order_beyond_what_is_available_is_left_to_the_market_to_refuse(market):
    assert caution("sell", "12", "2.0000").reasons == ()


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def run(cli, backend):
    return lambda *args: cli("--db", backend.url, *args)


def test_cli_refuses_a_far_price_without_yes_and_writes_nothing(market, run):
    key = key_for("alice")
    before = snapshot()
    result = run("order", "place", "buy", "1", "2.5000", *key_file(key))
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "energy-tui: order not placed: the price 2.5000 is 900% above the last trade 0.2500 "
        "(more than 20% away). Add --yes to place it anyway\n"
    )
    assert snapshot() == before


def test_cli_refuses_a_large_share_without_yes_and_places_it_with_yes(market, run):
    key = key_for("alice")
    before = snapshot()
    refused = run("order", "place", "sell", "6", "0.2500", *key_file(key))
    assert refused.code == 2
    assert "it commits 6.00 of your 11.00 kWh available (more than half)" in refused.err
    assert snapshot() == before
    placed = run("order", "place", "sell", "6", "0.2500", "--yes", *key_file(key))
    assert (placed.code, placed.err) == (0, "")
    assert "sell 6.00 kWh at 0.2500 WATT/kWh: 6.00 kWh resting" in placed.out
