"""A placement's refusals are the same errors, with the same message and field, on
every backend: PostgreSQL's placement function raises them as SQLSTATEs of class ET
that `market.server` turns back into the Python path's errors (issue 13)."""

from __future__ import annotations

import types

import peewee
import pytest

from energy_tui.errors import InsufficientFunds, NotFound, ValidationError
from energy_tui.services.context import Actor
from energy_tui.services.market import server
from tests.market_support import place, snapshot, trader


def test_order_for_a_prosumer_that_is_gone_is_not_found(backend):
    ghost = Actor(label="user:ghost", role="trader", username="ghost", prosumer_address="ghost")
    before = snapshot()

    with pytest.raises(NotFound) as caught:
        place(ghost, "buy", "1", "0.1000")

    assert str(caught.value) == "no prosumer with address 'ghost'"
    assert snapshot() == before


def test_refusals_keep_their_message_and_field(backend):
    alice = trader("alice", watt="0.10", energy="1")
    place(alice, "sell", "1", "0.1000")
    before = snapshot()

    with pytest.raises(InsufficientFunds) as short:
        place(alice, "buy", "5", "0.0500")
    with pytest.raises(ValidationError) as crossing:
        place(alice, "buy", "0.50", "0.1200")
    with pytest.raises(ValidationError) as small:
        place(alice, "buy", "0.01", "0.0001")

    assert (str(short.value), short.value.field) == (
        "buying 5.00 kWh at 0.0500 needs 0.27 WATT (grid fee included): only 0.10 WATT available",
        "amount",
    )
    assert (str(crossing.value), crossing.value.field) == (
        "this buy at 0.1200 would trade with your own sell order at 0.1000: cancel that "
        "order first",
        "price",
    )
    assert (str(small.value), small.value.field) == (
        "0.01 kWh at 0.0001 is worth less than 0.01 WATT, the market's minimum order "
        "value: raise the amount or the price",
        "amount",
    )
    assert snapshot() == before


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(backend):
    alice = trader("alice", watt="10", energy="1")
    bob = trader("bob", watt="10")

    with backend.database.atomic():
        with pytest.raises(InsufficientFunds):
            place(alice, "sell", "5", "0.1000")
        resting = place(alice, "sell", "1", "0.1000")
        bought = place(bob, "buy", "1", "0.1000")

    assert resting.order.status == "open"
    assert bought.order.status == "filled"
    assert [f.sell_order_id for f in bought.fills] == [resting.order.id]


@pytest.mark.parametrize("code_attribute", ["sqlstate", "pgcode"])
def test_both_postgresql_drivers_refusals_map_back(code_attribute: str) -> None:
    """psycopg 3 names an error's SQLSTATE `sqlstate`, psycopg2 `pgcode`: a refusal of the
    function is the same error whichever driver carries it (found by running the market
    tests on an install with only psycopg2)."""
    driver_error = Exception("ET002 from the server")
    setattr(driver_error, code_attribute, "ET002")
    driver_error.diag = types.SimpleNamespace(  # type: ignore[attr-defined]
        message_primary="settling this order needs 0.01 WATT more", message_hint="amount"
    )

    mapped = server._domain_error(peewee.InternalError(driver_error))

    assert isinstance(mapped, InsufficientFunds)
    assert (str(mapped), mapped.field) == ("settling this order needs 0.01 WATT more", "amount")
