"""`energy-tui alert add|list|remove` through the real entry point, on every backend."""

from __future__ import annotations

import json

import pytest

from energy_tui.db.models import PriceAlert
from tests.key_support import key_file
from tests.market_support import key_for, place, trader


@pytest.fixture
def run(cli, backend, now):
    return lambda *args: cli("--db", backend.url, *args)


@pytest.fixture
def alice(backend, now) -> str:
    """Alice's read key (she trades for prosumer alice)."""
    trader("alice", watt="50")
    return key_for("alice", "read")


def ok_json(run, *args: str):
    result = run(*args, "--json")
    assert (result.code, result.err) == (0, ""), result
    return json.loads(result.out)


def trade_at(price: str) -> None:
    seller, buyer = trader(f"s{price}", energy="5"), trader(f"b{price}", watt="50")
    place(seller, "sell", "1", price)
    place(buyer, "buy", "1", price)


def test_add_list_fire_and_remove_an_alert_from_the_cli(run, alice):
    trade_at("0.2000")
    added = ok_json(run, "alert", "add", "above", "0.3", *key_file(alice))
    assert (added["direction"], added["price"], added["status"]) == ("above", "0.3000", "waiting")
    assert added["fired_at"] is None

    listed = ok_json(run, "alert", "list", *key_file(alice))
    assert [a["id"] for a in listed] == [added["id"]]

    trade_at("0.3000")
    assert ok_json(run, "alert", "list", *key_file(alice)) == []  # fired: not waiting
    fired = ok_json(run, "alert", "list", "--all", *key_file(alice))
    assert [(a["id"], a["status"], a["fired_price"]) for a in fired] == [
        (added["id"], "fired", "0.3000")
    ]

    text = run("alert", "remove", added["id"], *key_file(alice))
    assert (text.code, text.err) == (0, "")
    assert text.out == f"removed alert {added['id']} (above 0.3000)\n"
    assert PriceAlert.select().count() == 0


def test_text_output_of_add_and_list(run, alice):
    added = run("alert", "add", "below", "0.15", *key_file(alice))
    assert added.code == 0 and "when the last price is below 0.1500 WATT/kWh" in added.out

    listing = run("alert", "list", *key_file(alice))

    header, row = listing.out.splitlines()
    assert header.split()[:4] == ["ID", "DIRECTION", "PRICE", "STATUS"]
    assert "below" in row and "0.1500" in row and "waiting" in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "sideways", "0.3"), "direction 'sideways' is not valid: expected above or below"),
        (("add", "above", "0,3"), "use a point for decimals"),
        (("add", "above", "0.00001"), "price has more than 4 decimals"),
        (("remove", "42"), "'42' is not an alert id"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(run, alice, args, message):
    result = run("alert", *args, *key_file(alice))

    assert result.code == 2 and result.out == ""
    assert message in result.err and result.err.count("\n") == 1
    assert PriceAlert.select().count() == 0


def test_removing_someone_elses_alert_exits_2_and_keeps_it(run, alice):
    trader("bob")
    bob = key_for("bob", "read")
    added = ok_json(run, "alert", "add", "above", "1", *key_file(alice))

    result = run("alert", "remove", added["id"], *key_file(bob))

    assert result.code == 2 and "you have no alert with id" in result.err
    assert PriceAlert.select().count() == 1


def test_without_a_key_or_with_a_key_lacking_read_the_cli_exits_3(run, alice):
    trader("tom")
    trade_only = key_for("tom", "trade")

    no_key = run("alert", "list")
    denied = run("alert", "add", "above", "1", *key_file(trade_only))

    assert no_key.code == 3 and "--api-key-file FILE" in no_key.err
    assert "ENERGY_TUI_API_KEY" in no_key.err
    assert denied.code == 3 and "permission denied" in denied.err
    assert PriceAlert.select().count() == 0
