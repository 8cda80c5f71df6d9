"""One table of rounding and fee examples pins both implementations of the money rules:
Python's `market.money` (every backend's placements but PostgreSQL's) and the SQL
helpers of migration 0014 that PostgreSQL's placement function settles with."""

from __future__ import annotations

from decimal import Decimal

import pytest

from energy_tui.services.market.money import MarketRules, round_money

# amount, price, fee rate -> trade value (half-even to the cent, never below a cent),
# fee (rounded UP to the cent; none at rate 0), buyer's cost (value + fee)
TRADES = [
    ("1.25", "0.1000", "0.0500", "0.12", "0.01", "0.13"),  # 0.125 -> 0.12 (half-even)
    ("1.35", "0.1000", "0.0500", "0.14", "0.01", "0.15"),  # 0.135 -> 0.14 (half-even)
    ("5.00", "0.1000", "0.0500", "0.50", "0.03", "0.53"),  # fee 0.025 -> 0.03 (up)
    ("0.01", "0.0001", "0.0500", "0.01", "0.01", "0.02"),  # 0.000001 -> a cent at least
    ("0.05", "0.1000", "0.0500", "0.01", "0.01", "0.02"),  # 0.005 -> 0.00 -> a cent
    ("0.15", "0.1000", "0.0500", "0.02", "0.01", "0.03"),  # 0.015 -> 0.02 (half-even)
    ("7.77", "0.3333", "0.0333", "2.59", "0.09", "2.68"),  # 2.589741; fee 0.086247 -> 0.09
    ("1.00", "1.0000", "0", "1.00", "0.00", "1.00"),  # no fee at rate 0
    ("2.00", "0.0050", "0.2000", "0.01", "0.01", "0.02"),  # exactly a cent; fee 0.002 -> 0.01
    ("99999.99", "999.9999", "0.0500", "99999980.00", "4999999.00", "104999979.00"),
]
# value -> half-even at the cent (the statistics' average uses the same at 4 places)
HALF_EVEN = [
    ("0.125", "0.12"),
    ("0.135", "0.14"),
    ("0.145", "0.14"),
    ("2.5", "2.50"),
    ("0.0050", "0.00"),
    ("0.0150", "0.02"),
    ("-0.125", "-0.12"),
    ("-0.135", "-0.14"),
    ("0.12500001", "0.13"),
]


@pytest.mark.parametrize(("amount", "price", "rate", "total", "fee", "cost"), TRADES)
def test_python_money_rules_give_the_table(amount, price, rate, total, fee, cost):
    rules = MarketRules(fee_rate=Decimal(rate))
    value = rules.trade_total(Decimal(amount), Decimal(price))
    assert (str(value), str(rules.fee(value))) == (total, fee)
    assert str(rules.buyer_cost(Decimal(amount), Decimal(price))) == cost


@pytest.mark.parametrize(("value", "rounded"), HALF_EVEN)
def test_python_half_even_gives_the_table(value, rounded):
    assert str(round_money(Decimal(value))) == rounded


@pytest.fixture
def postgres(backend):
    if backend.name != "postgres":
        pytest.skip("the SQL money rules live on PostgreSQL only")
    return backend.database


def test_postgres_money_rules_give_the_same_table(postgres):
    for amount, price, rate, total, fee, cost in TRADES:
        row = postgres.execute_sql(
            "SELECT energy_tui_trade_total(%s::numeric, %s::numeric)::text, "
            "energy_tui_fee(energy_tui_trade_total(%s::numeric, %s::numeric), %s::numeric)"
            "::text, energy_tui_buyer_cost(%s::numeric, %s::numeric, %s::numeric)::text",
            (amount, price, amount, price, rate, amount, price, rate),
        ).fetchone()
        assert row == (total, fee, cost), (amount, price, rate)


def test_postgres_half_even_gives_the_same_table(postgres):
    for value, rounded in HALF_EVEN:
        row = postgres.execute_sql(
            "SELECT energy_tui_half_even(%s::numeric, 2)::text", (value,)
        ).fetchone()
        assert row == (rounded,), value
        quotient = postgres.execute_sql(
            "SELECT energy_tui_div_half_even(%s::numeric * 1000, 1000, 2)::text", (value,)
        ).fetchone()
        assert quotient == (rounded,), value
