"""`order place --fok | market`, `order amend`, `order cancel --all`, `order list --status`
and `order show` through the real entry point, on every backend (issue 12)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from energy_tui.db.models import EnergyOrder
from energy_tui.services.market import invariants
from tests.clock_support import freeze
from tests.key_support import key_file
from tests.market_support import balances, key_for, place, set_rule, snapshot, trader

D = Decimal


@pytest.fixture
def run(cli, backend):
    set_rule("GRID_IMPORT_PRICE", "0.1000")  # the empty market's reference: near our prices
    yield lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)
    assert invariants.check() == []


def ok(run, *args: str) -> str:
    result = run(*args)
    assert (result.code, result.err) == (0, ""), result
    return result.out


def ok_json(run, *args: str):
    return json.loads(ok(run, *args, "--json"))


def fails(run, code: int, *args: str) -> str:
    before = snapshot()
    result = run(*args)
    assert result.code == code, result
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert snapshot() == before
    return result.err


@pytest.fixture
def book():
    """Three asks (0.1000, 0.1100, 0.1300; 1 kWh, 1 kWh, 5 kWh) and a buyer's key."""
    seller = trader("seller", energy="20")
    for amount, price in (("1", "0.1000"), ("1", "0.1100"), ("5", "0.1300")):
        place(seller, "sell", amount, price)
    trader("buyer", watt="100")
    return key_for("buyer"), key_for("seller")


def test_fok_that_cannot_fill_leaves_book_and_balances_untouched(run, book):
    buyer, _ = book
    before_book = ok_json(run, "book")
    before = balances("buyer")

    killed = ok_json(run, "order", "place", "buy", "2.5", "0.1100", "--fok", *key_file(buyer))

    assert killed["fills"] == []
    order = killed["order"]
    assert (order["status"], order["tif"], order["filled"], order["reserved"]) == (
        "cancelled",
        "fok",
        "0.00",
        "0.00",
    )
    assert order["reason"] == (
        "fill or kill: only 2.00 of 2.50 kWh could fill at once at 0.1100 or less"
    )
    after_book = ok_json(run, "book")
    assert (after_book["bids"], after_book["asks"]) == (before_book["bids"], before_book["asks"])
    assert balances("buyer") == before
    text = ok(run, "order", "place", "buy", "2.5", "0.1100", "--fok", *key_file(buyer))
    assert text.endswith(
        "buy 2.50 kWh at 0.1100 WATT/kWh (FOK): nothing done: "
        "fill or kill: only 2.00 of 2.50 kWh could fill at once at 0.1100 or less\n"
    )


def test_ioc_and_fok_together_are_refused_in_one_line(run, book):
    buyer, _ = book
    err = fails(run, 2, "order", "place", "buy", "1", "0.1", "--ioc", "--fok", *key_file(buyer))
    assert "not both" in err


def test_market_buy_with_a_cap_stops_at_the_cap(run, book):
    buyer, _ = book

    result = ok_json(
        run, "order", "place", "buy", "3", "market", "--max-price", "0.1200", *key_file(buyer)
    )

    assert [(f["amount"], f["price"]) for f in result["fills"]] == [
        ("1.00", "0.1000"),
        ("1.00", "0.1100"),
    ]
    order = result["order"]
    assert (order["kind"], order["price"], order["status"], order["remaining"]) == (
        "market",
        "0.1200",
        "cancelled",
        "1.00",
    )
    assert "found no sell order at or below its cap 0.1200" in order["reason"]
    assert ok_json(run, "book")["best_ask"] == "0.1300"
    assert balances("buyer").watt_reserved == D("0.00")


def test_market_order_text_and_the_cap_flags(run, book):
    buyer, _seller = book
    text = ok(run, "order", "place", "buy", "1", "market", "--max-price", "0.12", *key_file(buyer))
    assert "buy 1.00 kWh capped at 0.1200 WATT/kWh: filled in 1 trade" in text
    # the default cap: last trade 0.1000 + 20% = 0.1200
    text = ok(run, "order", "place", "buy", "5", "market", "--yes", *key_file(buyer))
    assert "capped at 0.1200" in text
    assert "default cap: last trade 0.1000 + the 20% price band" in text
    err = fails(run, 2, "order", "place", "sell", "1", "market", "--max-price", "0.1")
    assert "--max-price does not apply to a market sell: its cap is --min-price" in err
    err = fails(run, 2, "order", "place", "buy", "1", "0.1", "--max-price", "0.1")
    assert "--max-price is for market orders" in err


def test_market_order_without_any_reference_needs_a_cap(run, backend):
    seller = trader("seller", energy="20")
    place(seller, "sell", "1", "0.1000")  # one side, no trade: no reference
    trader("buyer", watt="100")
    buyer = key_for("buyer")

    err = fails(run, 2, "order", "place", "buy", "1", "market", *key_file(buyer))
    assert "a market buy needs a price cap (--max-price" in err
    preview = ok(
        run, "order", "preview", "buy", "3", "market", "--max-price", "0.2", *key_file(buyer)
    )
    assert "market buy 3.00 kWh, capped at 0.2000 WATT/kWh (as given)" in preview
    assert "worst price" in preview


def test_amend_down_keeps_its_place_and_amend_up_does_not(run, book):
    _, seller = book
    place = ("order", "place", "--yes", "sell", "2", "0.1400", *key_file(seller))
    first = ok_json(run, *place)["order"]
    second = ok_json(run, *place)["order"]
    seq = {o.id.hex: o.seq for o in EnergyOrder.select()}

    down = ok_json(run, "order", "amend", first["id"], "--amount", "1.5", *key_file(seller))
    assert (down["order"]["amount"], down["fills"]) == ("1.50", [])
    assert EnergyOrder.get_by_id(first["id"]).seq == seq[first["id"].replace("-", "")]

    text = ok(run, "order", "amend", second["id"], "--amount", "3", "--yes", *key_file(seller))
    assert text.startswith(
        f"amended (back of the queue at its price): order {second['id']}: sell 3.00 kWh at 0.1400"
    )
    text = ok(run, "order", "amend", second["id"], "--amount", "2.5", *key_file(seller))
    assert text.startswith("amended (kept its place in the queue): order")
    assert EnergyOrder.get_by_id(second["id"]).seq > EnergyOrder.get_by_id(first["id"]).seq


def test_amend_that_crosses_prints_the_same_shape_as_place(run, book):
    buyer, _ = book
    bid = ok_json(run, "order", "place", "buy", "3", "0.0900", *key_file(buyer))["order"]

    amended = ok_json(
        run, "order", "amend", bid["id"], "--price", "0.1100", "--yes", *key_file(buyer)
    )
    placed = ok_json(run, "order", "place", "buy", "1", "0.1300", *key_file(buyer))

    assert set(amended) == set(placed) == {"order", "fills"}
    assert set(amended["order"]) == set(placed["order"])
    assert set(amended["fills"][0]) == set(placed["fills"][0])
    assert [f["price"] for f in amended["fills"]] == ["0.1000", "0.1100"]
    assert amended["order"]["status"] == "partially_filled"


def test_amend_refusals(run, book):
    buyer, _seller = book
    bid = ok_json(run, "order", "place", "buy", "1", "0.0900", *key_file(buyer))["order"]
    ask_id = EnergyOrder.get(EnergyOrder.order_type == "sell").id

    assert "give --price, --amount" in fails(run, 2, "order", "amend", bid["id"], *key_file(buyer))
    far = fails(run, 2, "order", "amend", bid["id"], "--price", "0.05", *key_file(buyer))
    assert "Add --yes" in far
    denied = run("order", "amend", str(ask_id), "--price", "0.2", *key_file(buyer))
    assert (denied.code, denied.out) == (3, "")
    assert "not yours" in denied.err
    ok(run, "order", "cancel", bid["id"], *key_file(buyer))
    assert "is cancelled: only open orders" in fails(
        run, 2, "order", "amend", bid["id"], "--price", "0.095", *key_file(buyer)
    )


def test_cancel_all_prints_count_and_released(run, book):
    buyer, seller = book
    ok(run, "order", "place", "buy", "2", "0.0900", *key_file(buyer))
    ok(run, "order", "place", "buy", "1", "0.0800", *key_file(buyer))
    held = balances("buyer").watt_reserved

    assert "--side goes with --all" in fails(run, 2, "order", "cancel", "--side", "buy")
    assert "give the ID" in fails(run, 2, "order", "cancel", *key_file(buyer))
    sells = ok_json(run, "order", "cancel", "--all", "--side", "sell", *key_file(seller))
    assert (sells["cancelled"], sells["released_energy"], sells["released_watt"]) == (
        3,
        "7.00",
        "0.00",
    )
    text = ok(run, "order", "cancel", "--all", *key_file(buyer))
    assert text == f"cancelled 2 orders: released {held} WATT and 0.00 kWh\n"
    assert ok(run, "order", "cancel", "--all", *key_file(buyer)) == "no open orders to cancel\n"
    assert balances("buyer").watt_reserved == D("0.00")


def test_order_list_open_leaves_out_an_order_past_its_expiry_and_lists_it_expired(
    run, book, monkeypatch
):
    clock = freeze(monkeypatch)
    buyer, _ = book
    due = ok_json(run, "order", "place", "buy", "1", "0.0900", "--expires", "1h",
                  *key_file(buyer))["order"]  # fmt: skip
    clock.advance(hours=2)  # not swept yet

    assert ok_json(run, "order", "list", *key_file(buyer)) == []
    assert ok_json(run, "order", "list", "--status", "open", *key_file(buyer)) == []
    (expired,) = ok_json(run, "order", "list", "--status", "expired", *key_file(buyer))
    assert (expired["id"], expired["status"]) == (due["id"], "expired")
    shown = ok_json(run, "order", "show", due["id"], *key_file(buyer))["order"]
    assert shown["status"] == "expired"


def test_a_market_order_the_guard_stops_names_the_flag_that_places_it_at_that_cap(run, book):
    trader("small", watt="0.20")  # 1 kWh at the default cap 0.1200 (+ fee) is most of it
    small = key_for("small")
    ok(run, "order", "place", "buy", "1", "0.1000", *key_file(book[0]))  # last trade 0.1000

    err = fails(run, 2, "order", "place", "buy", "1", "market", *key_file(small))

    assert "(more than half)" in err
    assert "add --max-price 0.1200 to place it at the cap judged here" in err
    placed = ok_json(run, "order", "place", "buy", "1", "market", "--max-price", "0.1200",
                     "--yes", *key_file(small))["order"]  # fmt: skip
    assert placed["price"] == "0.1200"


def test_json_reserved_is_exact_at_its_columns_scale_once_an_order_holds_nothing(run, book):
    buyer, seller = book
    filled = ok_json(run, "order", "place", "buy", "1", "0.1000", *key_file(buyer))["order"]
    ioc = ok_json(run, "order", "place", "buy", "2", "0.1100", "--ioc", *key_file(buyer))["order"]
    resting = ok_json(run, "order", "place", "buy", "1", "0.0900", *key_file(buyer))["order"]
    cancelled = ok_json(run, "order", "cancel", resting["id"], *key_file(buyer))

    assert [o["status"] for o in (filled, ioc, cancelled)] == ["filled", "cancelled", "cancelled"]
    assert [o["reserved"] for o in (filled, ioc, cancelled)] == ["0.00", "0.00", "0.00"]
    assert resting["reserved"] == "0.10"  # 1 kWh x 0.0900 = 0.09, + the 0.01 fee
    # a sell holds its remainder in kWh while open, nothing once closed
    sells = ok_json(run, "order", "cancel", "--all", *key_file(seller))["orders"]
    assert {(o["status"], o["remaining"], o["reserved"]) for o in sells} == {
        ("cancelled", "5.00", "0.00")
    }
    listed = ok_json(run, "order", "list", "--status", "all", *key_file(buyer))
    assert {o["reserved"] for o in listed} == {"0.00"}


def test_order_list_by_status_with_average_price_and_show_with_fills(run, book):
    buyer, _ = book
    filled = ok_json(run, "order", "place", "buy", "2", "0.1100", *key_file(buyer))["order"]
    resting = ok_json(run, "order", "place", "buy", "1", "0.0500", "--yes", *key_file(buyer))
    ok(run, "order", "cancel", resting["order"]["id"], *key_file(buyer))

    everything = ok_json(run, "order", "list", "--status", "all", *key_file(buyer))
    assert [o["status"] for o in everything] == ["cancelled", "filled"]
    assert everything[1]["avg_price"] == "0.1050"  # (0.1000 + 0.1100) / 2
    assert everything[0]["reason"] == "cancelled by its owner"
    assert ok_json(run, "order", "list", *key_file(buyer)) == []
    assert len(ok_json(run, "order", "list", "--status", "filled", *key_file(buyer))) == 1
    assert ok_json(run, "order", "list", "--status", "all", "--since", "1h", *key_file(buyer))
    text = ok(run, "order", "list", "--status", "all", *key_file(buyer))
    assert "avg_price" in text and "rounded half-even to 4 places" in text
    assert "--status 'bogus' is not valid" in fails(
        run, 2, "order", "list", "--status", "bogus", *key_file(buyer)
    )

    shown = ok_json(run, "order", "show", filled["id"], *key_file(buyer))
    assert shown["order"]["avg_price"] == "0.1050"
    assert [(f["amount"], f["price"], f["side"]) for f in shown["fills"]] == [
        ("1.00", "0.1000", "buy"),
        ("1.00", "0.1100", "buy"),
    ]
