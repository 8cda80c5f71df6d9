"""The market commands through the real entry point, on every backend (issue 4 "Done when")."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from energy_tui.db.models import EnergyOrder, MarketCandle, MarketStatistics, Prosumer
from energy_tui.services.market import invariants
from tests.clock_support import freeze
from tests.key_support import key_file
from tests.market_support import key_for, place, trader

D = Decimal
# These tests trade far from the grid tariff (the reference of an empty market) on
# purpose: they confirm the fat-finger guard, which tests/test_order_guard.py covers.
PLACE = ("order", "place", "--yes")


@pytest.fixture
def run(cli, backend):
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


def ok(run, *args: str, stdin: str | None = None) -> str:
    result = run(*args, stdin=stdin)
    assert (result.code, result.err) == (0, ""), result
    return result.out


def ok_json(run, *args: str):
    return json.loads(ok(run, *args, "--json"))


@pytest.fixture
def pair(backend):
    """Alice (100 WATT) and Bob (50 kWh generated), each with a read+trade key."""
    trader("alice", watt="100")
    trader("bob", energy="50")
    return key_for("alice"), key_for("bob")


# --- the new user's session ----------------------------------------------------------


def set_up_two_traders_from_the_cli(run) -> tuple[str, str]:
    ok(run, "prosumer", "add", "alice-house", "--name", "Alice House")
    ok(run, "prosumer", "add", "bob-solar", "--name", "Bob Solar")
    ok(run, "prosumer", "deposit", "alice-house", "100")
    ok(run, "prosumer", "meter", "bob-solar", "--generated", "50")
    keys = []
    for name, address in (("alice", "alice-house"), ("bob", "bob-solar")):
        user = ("user", "add", name, "--email", f"{name}@example.org", "--prosumer", address)
        ok(run, *user, "--password-stdin", stdin="a long enough password\n")
        created = ok_json(
            run, "key", "create", "--user", name, "--name", "desk", "--perm", "read,trade"
        )
        keys.append(created["key"])
    return keys[0], keys[1]


def test_two_keys_cross_and_balances_move_exactly_as_design_section_3_says(run):
    alice, bob = set_up_two_traders_from_the_cli(run)

    sell = ok_json(run, *PLACE, "sell", "10", "0.1200", *key_file(bob))
    buy = ok_json(run, *PLACE, "buy", "4", "0.1500", *key_file(alice))

    assert (sell["order"]["status"], sell["fills"]) == ("open", [])
    assert buy["order"]["status"] == "filled"
    (fill,) = buy["fills"]
    # 4 x 0.1200 = 0.48 (the maker's price); fee 0.024 -> 0.03 (up); buyer pays 0.51
    assert (fill["price"], fill["total"], fill["fee"], fill["buyer_total"]) == (
        "0.1200",
        "0.48",
        "0.03",
        "0.51",
    )
    (trade,) = ok_json(run, "trades", "list", "--mine", *key_file(alice))
    assert (trade["side"], trade["amount"], trade["buyer"], trade["seller"]) == (
        "buy",
        "4.00",
        "alice-house",
        "bob-solar",
    )
    assert [t["id"] for t in ok_json(run, "trades", "list")] == [trade["id"]]

    a = ok_json(run, "prosumer", "show", "alice-house")
    assert (a["watt_total"], a["watt_reserved"], a["energy_credits"]) == ("99.49", "0.00", "4.00")
    b = ok_json(run, "prosumer", "show", "bob-solar")
    assert (b["watt_total"], b["energy_sold"], b["energy_credits"]) == ("0.48", "4.00", "46.00")
    assert (b["energy_reserved"], b["energy_available"]) == ("6.00", "40.00")
    assert ok_json(run, "prosumer", "show", "grid-operator")["watt_total"] == "0.03"

    (day,) = ok_json(run, "stats", "show", *key_file(alice))
    assert (day["trades"], day["volume"], day["vwap"]) == (1, "4.00", "0.1200")
    assert (day["open_buys"], day["open_sells"]) == (0, 1)
    assert "all six invariants hold" in ok(run, "market", "check")


def test_placing_prints_what_happened_in_a_sentence_and_the_fills(run, pair):
    alice, bob = pair
    rest = ok(run, *PLACE, "sell", "10", "0.1200", *key_file(bob))
    assert "sell 10.00 kWh at 0.1200 WATT/kWh: 10.00 kWh resting on the book until" in rest

    out = ok(run, *PLACE, "buy", "4", "0.1500", *key_file(alice)).splitlines()

    assert out[0].endswith("buy 4.00 kWh at 0.1500 WATT/kWh: filled in 1 trade")
    header = "SEQ AMOUNT PRICE TOTAL FEE BUYER TOTAL BUYER SELLER"
    assert out[1].split() == header.split()
    assert out[2].split() == ["1", "4.00", "0.1200", "0.48", "0.03", "0.51", "alice", "bob"]


def test_ioc_flag_cancels_the_remainder_and_says_so(run, pair):
    alice, bob = pair
    ok(run, *PLACE, "sell", "3", "0.1000", *key_file(bob))
    out = ok(run, *PLACE, "buy", "5", "0.1000", "--ioc", *key_file(alice))
    assert "(IOC): 3.00 kWh filled in 1 trade, 2.00 kWh cancelled" in out
    assert Prosumer.get_by_id("alice").watt_reserved == 0


def test_expires_flag_sets_the_order_expiry(run, pair, monkeypatch):
    now = freeze(monkeypatch)
    alice, _ = pair
    placed = ok_json(run, *PLACE, "buy", "1", "0.1", "--expires", "2h", *key_file(alice))
    assert placed["order"]["expires_at"] == f"{now.now.date()} 14:00:00"


def test_preview_reports_cost_fee_savings_and_fill_now_without_writing(run, pair):
    alice, bob = pair
    ok(run, *PLACE, "sell", "4", "0.1200", *key_file(bob))
    orders = EnergyOrder.select().count()

    preview = ok_json(run, "order", "preview", "buy", "10", "0.1500", *key_file(alice))

    assert (preview["base_cost"], preview["fee"], preview["total"]) == ("1.50", "0.08", "1.58")
    assert (preview["grid_cost"], preview["savings"]) == ("2.50", "0.92")
    assert (preview["fill_now"], preview["fill_price"], preview["fill_cost"]) == (
        "4.00",
        "0.1200",
        "0.51",
    )
    assert (preview["available"], preview["enough"]) == ("100.00", True)
    assert EnergyOrder.select().count() == orders
    text = ok(run, "order", "preview", "buy", "10", "0.1500", *key_file(alice))
    assert "grid fee          0.08 WATT (5%, rounded up to the cent)" in text


def test_preview_json_gives_every_amount_at_its_columns_scale_even_when_zero(run, pair):
    _, bob = pair  # nothing on the book to sell to; a seller pays no fee, saves nothing

    preview = ok_json(run, "order", "preview", "sell", "4", "0.1200", *key_file(bob))

    zeros = {k: preview[k] for k in ("fee", "savings", "fill_now", "fill_cost")}
    assert zeros == {"fee": "0.00", "savings": "0.00", "fill_now": "0.00", "fill_cost": "0.00"}


def test_order_list_shows_open_orders_and_with_all_the_closed_ones(run, pair):
    alice, _ = pair
    first = ok_json(run, *PLACE, "buy", "1", "0.1000", *key_file(alice))["order"]
    second = ok_json(run, *PLACE, "buy", "2", "0.0900", *key_file(alice))["order"]
    ok(run, "order", "cancel", first["id"], *key_file(alice))

    open_now = ok_json(run, "order", "list", *key_file(alice))
    everything = ok_json(run, "order", "list", "--all", *key_file(alice))

    assert [o["id"] for o in open_now] == [second["id"]]
    assert open_now[0]["note"] == "no sell orders on the book"
    assert [(o["id"], o["status"]) for o in everything] == [
        (second["id"], "open"),
        (first["id"], "cancelled"),
    ]
    table = ok(run, "order", "list", *key_file(alice)).splitlines()
    assert table[0].split()[:4] == ["ID", "SIDE", "AMOUNT", "PRICE"]
    assert second["id"] in table[1]


def test_cancel_releases_the_reservation_and_reports_it(run, pair):
    alice, _ = pair
    order = ok_json(run, *PLACE, "buy", "10", "0.1000", *key_file(alice))["order"]
    assert Prosumer.get_by_id("alice").watt_reserved == D("1.05")

    out = ok(run, "order", "cancel", order["id"], *key_file(alice))

    assert out.startswith(f"cancelled order {order['id']} (buy 10.00 kWh at 0.1000)")
    assert Prosumer.get_by_id("alice").watt_reserved == 0


def test_book_shows_levels_with_cumulative_quantity_and_best_prices(run, pair):
    alice, bob = pair
    for amount, price in (("1", "0.1300"), ("2", "0.1300"), ("3", "0.1400")):
        ok(run, *PLACE, "sell", amount, price, *key_file(bob))
    ok(run, *PLACE, "buy", "5", "0.1100", *key_file(alice))

    current = ok_json(run, "book", "--depth", "5")
    lines = ok(run, "book").splitlines()

    assert [(a["price"], a["quantity"], a["orders"], a["cumulative"]) for a in current["asks"]] == [
        ("0.1300", "3.00", 2, "3.00"),
        ("0.1400", "3.00", 1, "6.00"),
    ]
    assert (current["best_bid"], current["best_ask"], current["spread"], current["mid"]) == (
        "0.1100",
        "0.1300",
        "0.0200",
        "0.1200",
    )
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["ask", "0.1400"],
        ["ask", "0.1300"],
        ["bid", "0.1100"],
    ]
    assert lines[-1].startswith("best bid 0.1100  best ask 0.1300  spread 0.0200  mid 0.1200")


# --- trades and export ---------------------------------------------------------------


def make_trades(alice: str, bob: str, run) -> None:
    for amount, price in (("1.25", "0.1000"), ("2.50", "0.1234"), ("0.10", "0.3333")):
        ok(run, *PLACE, "sell", amount, price, *key_file(bob))
        ok(run, *PLACE, "buy", amount, price, *key_file(alice))


def test_trades_export_writes_exact_decimals_as_text_with_a_header(run, pair, tmp_path):
    alice, bob = pair
    make_trades(alice, bob, run)
    target = tmp_path / "trades.csv"

    out = ok(run, "trades", "export", "--csv", str(target))

    assert out == f"wrote 3 trades to {target}\n"
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "id",
        "seq",
        "executed_at",
        "buyer_address",
        "seller_address",
        "energy_amount",
        "price_per_kwh",
        "total_price",
        "fee",
        "buyer_total",
        "taker_side",
        "buy_order_id",
        "sell_order_id",
    ]
    assert [
        (r["seq"], r["energy_amount"], r["price_per_kwh"], r["total_price"], r["fee"]) for r in rows
    ] == [
        ("1", "1.25", "0.1000", "0.12", "0.01"),  # 0.125 -> 0.12, half-even
        ("2", "2.50", "0.1234", "0.31", "0.02"),  # 0.3085 -> 0.31; fee 0.0155 -> 0.02
        ("3", "0.10", "0.3333", "0.03", "0.01"),  # 0.03333 -> 0.03; fee 0.0015 -> 0.01 (up)
    ]
    assert {r["buyer_address"] for r in rows} == {"alice"}


def test_trades_export_of_own_trades_adds_the_side_and_honours_filters(run, pair, tmp_path):
    alice, bob = pair
    make_trades(alice, bob, run)
    target = tmp_path / "mine.csv"

    report = ok_json(
        run, "trades", "export", "--csv", str(target), "--mine", "--limit", "2", *key_file(bob)
    )

    assert report == {"path": str(target), "rows": 2}
    rows = list(csv.DictReader(target.open(newline="", encoding="utf-8")))
    assert [(r["seq"], r["side"]) for r in rows] == [("2", "sell"), ("3", "sell")]


def test_trades_export_keeps_an_existing_file_unless_told_to_overwrite(run, pair, tmp_path):
    alice, bob = pair
    make_trades(alice, bob, run)
    target = tmp_path / "kept.csv"
    target.write_text("precious\n", encoding="utf-8")

    refused = run("trades", "export", "--csv", str(target))

    assert refused.code == 2
    assert f"{target} already exists: pass --overwrite to replace it" in refused.err
    assert target.read_text(encoding="utf-8") == "precious\n"
    ok(run, "trades", "export", "--csv", str(target), "--overwrite")
    rows = list(csv.DictReader(target.open(newline="", encoding="utf-8")))
    assert len(rows) == 3
    assert rows[0]["executed_at"].endswith("Z")


def test_trades_export_never_writes_through_a_link(run, pair, tmp_path):
    alice, bob = pair
    make_trades(alice, bob, run)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere")

    refused = run("trades", "export", "--csv", str(link), "--overwrite")

    assert refused.code == 2
    assert "symbolic link" in refused.err
    assert not (tmp_path / "elsewhere").exists()


def test_trades_list_filters_by_date_range_and_side(run, pair, monkeypatch):
    now = freeze(monkeypatch)
    alice, bob = pair
    make_trades(alice, bob, run)
    today = str(now.now.date())

    assert len(ok_json(run, "trades", "list", "--since", today, "--until", today)) == 3
    assert ok_json(run, "trades", "list", "--until", "2026-03-01") == []
    assert ok_json(run, "trades", "list", "--side", "buy", *key_file(bob)) == []
    sells = ok_json(run, "trades", "list", "--side", "sell", "--limit", "1", *key_file(bob))
    assert [(t["seq"], t["side"]) for t in sells] == [(3, "sell")]


def test_trades_list_mine_needs_a_key(run, pair):
    result = run("trades", "list", "--mine")
    assert result.code == 3
    assert "ENERGY_TUI_API_KEY" in result.err and "--api-key-file FILE" in result.err


# --- statistics and maintenance ------------------------------------------------------


def test_stats_show_counts_each_day_and_rebuild_agrees(run, pair):
    alice, bob = pair
    make_trades(alice, bob, run)

    (day,) = ok_json(run, "stats", "show", "--days", "1")
    assert (day["trades"], day["volume"], day["high"], day["low"]) == (
        3,
        "3.85",
        "0.3333",
        "0.1000",
    )
    assert ok(run, "stats", "rebuild") == (
        "the 1 day on record and its candles agree with the trades\n"
    )


def test_stats_rebuild_prints_the_disagreements_it_fixed(run, pair):
    alice, bob = pair
    make_trades(alice, bob, run)
    MarketStatistics.update(total_trades=99).execute()
    MarketCandle.update(trades=98).where(MarketCandle.seconds == 3600).execute()

    out = ok(run, "stats", "rebuild").splitlines()

    assert out[0] == "fixed what disagreed with the trades (1 day on record):"
    assert "99" in out[1]
    assert out[2].startswith("  1 h candles: 1 bucket disagreed with the trades")
    assert MarketStatistics.get().total_trades == 3
    assert MarketCandle.get(MarketCandle.seconds == 3600).trades == 3


def test_market_sweep_expires_due_orders(run, pair, monkeypatch):
    now = freeze(monkeypatch)
    alice, _ = pair
    ok(run, *PLACE, "buy", "1", "0.1", "--expires", "10m", *key_file(alice))
    assert ok(run, "market", "sweep") == "expired 0 orders\n"
    now.advance(minutes=11)
    assert ok_json(run, "market", "sweep") == {"expired": 1}
    assert Prosumer.get_by_id("alice").watt_reserved == 0


def test_market_check_exits_1_and_lists_violations(run, pair):
    alice, _ = pair
    ok(run, *PLACE, "buy", "1", "0.1", *key_file(alice))
    Prosumer.update(watt_reserved=D("5.00")).where(Prosumer.address == "alice").execute()

    result = run("market", "check")

    assert result.code == 1
    assert result.out.splitlines()[0] == "1 violation of the market invariants:"
    assert "5: alice watt_reserved 5.00 != orders 0.11" in result.out
    assert json.loads(run("market", "check", "--json").out)["ok"] is False


def test_operator_commands_accept_a_manage_key(run, backend):
    trader("ops-desk")
    manage = key_for("ops-desk", "read,manage", role="operator")
    assert ok_json(run, "market", "check", *key_file(manage)) == {"ok": True, "violations": []}
    assert ok_json(run, "market", "sweep", *key_file(manage)) == {"expired": 0}


def test_market_wide_reads_work_without_a_key_for_the_local_operator(run, backend):
    seller = trader("seller", energy="5")
    place(seller, "sell", "1", "0.2000")
    assert ok_json(run, "book")["best_ask"] == "0.2000"
    assert ok_json(run, "trades", "list") == []
    assert ok_json(run, "stats", "show") != []
    assert invariants.check() == []
