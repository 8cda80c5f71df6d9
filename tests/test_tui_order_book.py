"""Pilot tests of the first run, the login and the order book screen."""

from __future__ import annotations

import shutil
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest
from textual.widgets import Button, Checkbox, Input, Static

from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.db.models import EnergyOrder
from energy_tui.runtime import bind
from energy_tui.services import auth, prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.screens import order_book
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.ladder import PriceLadder
from energy_tui.tui.widgets.my_orders import MyOrders
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
    ALICE,
    SEEDER,
    SIZE,
    in_db,
    login,
    screen_text,
    seeded_database,
    settle,
    sync,
    type_text,
)

SELLER = Actor(label="test:seller", role="trader", username="seller", prosumer_address="seller")


@pytest.fixture
def market(tmp_path: Path):
    """The seeded users plus a seller with a resting ask at 0.2000."""
    settings, url = seeded_database(tmp_path)
    with bind(settings).database.connection_context():
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn", "residential")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        place_order(SELLER, order_request("sell", "5", "0.2000"))
    return settings, url


async def _wait_for(pilot, condition, tries: int = 100) -> None:
    for _ in range(tries):
        await settle(pilot)
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def _confirm_guard(pilot) -> None:
    """Say yes to the fat-finger guard (these prices are far from the grid tariff, the
    reference of a market without trades)."""
    await _wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmOrder))
    await pilot.press("y")


async def _fill_ticket(pilot, side: str, amount: str, price: str) -> OrderTicket:
    ticket = pilot.app.screen.query_one(OrderTicket)
    await pilot.press(side[0])  # b or s: the side, and into the amount field
    await type_text(pilot, amount)
    await pilot.press("tab")
    await type_text(pilot, price)
    await settle(pilot)
    return ticket


@sync
async def test_first_run_creates_the_admin_and_logs_in(tmp_path: Path) -> None:
    settings = load_settings(db=f"sqlite://{tmp_path / 'empty.db'}")
    runtime = bind(settings)
    with runtime.database.connection_context():
        migrations.migrate(runtime.database)
    app = make_app(settings, runtime.url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, FirstRunScreen))
        for value in ("root", "root@example.org", "first-pass", "first-pass"):
            await type_text(pilot, value)
            await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, OrderBookScreen))
        assert app.session is not None and app.session.role == "admin"


@sync
async def test_failed_login_shows_the_generic_message_inline(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await type_text(pilot, "alice")
        await pilot.press("enter")
        await type_text(pilot, "wrong-password")
        await pilot.press("enter")
        await _wait_for(pilot, lambda: "invalid username or password" in screen_text(app))
        assert isinstance(app.screen, LoginScreen) and app.session is None


@sync
async def test_locked_account_says_so_after_the_right_password(market, monkeypatch) -> None:
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    settings = load_settings(db=market[0].database_url)
    app = make_app(settings, market[1])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        password = app.screen.query_one("#password", Input)
        app.screen.query_one("#username", Input).value = "alice"
        for attempt in ("bad-one-1", "bad-one-2", "ali-pass1"):
            password.value = attempt
            password.focus()
            await pilot.press("enter")
            await settle(pilot)
        assert "locked" in screen_text(app)
        assert app.session is None


@sync
async def test_buy_below_the_best_ask_rests_in_my_open_orders(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.15")
        await pilot.press("enter")
        await _confirm_guard(pilot)
        orders = app.screen.query_one("#orders", Table)
        await _wait_for(pilot, lambda: orders.row_count == 1)
        # the table's cells, not the screen: a toast may cover the row's right end
        cells = [str(cell) for cell in orders.get_row_at(0)]
        assert cells[:3] == ["buy", "2.00", "0.1500"]
        assert cells[-1] == "best ask 0.2000 is above your 0.1500"


@sync
async def test_crossing_buy_fills_with_a_toast_the_tape_and_balances(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.25")
        await pilot.press("enter")
        await _wait_for(pilot, lambda: app.screen.query_one("#tape", Table).row_count == 1)
        toasts = [n.message for n in app._notifications]
        assert toasts.count("Bought 2.00 kWh @ 0.2000 (0.42 WATT with fee)") == 1, toasts
        assert not any("resting" in message for message in toasts), toasts
        text = screen_text(app)
        # 2 kWh at the maker's 0.2000 = 0.40 + 5% fee 0.02: 500.00 - 0.42
        assert "499.58" in text
        assert app.screen.query_one("#orders", Table).row_count == 0
        balances = in_db(prosumers.balances, "home-01")
        assert balances.watt_total == Decimal("499.58")
        assert balances.energy_bought == Decimal("2.00")


@sync
async def test_cancel_asks_for_confirmation_and_releases_the_hold(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.15")
        await pilot.press("enter")
        await _confirm_guard(pilot)
        await _wait_for(pilot, lambda: app.screen.query_one("#orders", Table).row_count == 1)
        assert in_db(prosumers.balances, "home-01").watt_reserved == Decimal("0.32")
        await pilot.press("escape", "c")
        await settle(pilot)
        assert "Cancel this order?" in screen_text(app)
        await pilot.press("y")
        await _wait_for(pilot, lambda: app.screen.query_one("#orders", Table).row_count == 0)
        assert in_db(prosumers.balances, "home-01").watt_reserved == Decimal("0.00")
        toasts = [n.message for n in app._notifications]
        assert "Cancelled buy 2.00 kWh @ 0.1500: 0.32 WATT released" in toasts


@sync
async def test_preview_follows_what_is_typed(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.25")
        assert "Fills now 2.00 kWh @ avg 0.2000" in screen_text(app)
        await type_text(pilot, "0")  # price 0.250 -> still crosses; amount unchanged
        await pilot.press("shift+tab", "end", "0")  # amount 20 kWh: only 5 on offer
        await settle(pilot)
        text = screen_text(app)
        assert "Fills now 5.00 kWh" in text
        assert "Cost 5.00 + grid fee 0.25 = 5.25" in text


@sync
async def test_b_and_s_from_the_book_f7_and_f8_inside_the_ticket_choose_the_side(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = app.screen.query_one(OrderTicket)
        amount, price = ticket.query_one("#amount", Input), ticket.query_one("#price", Input)
        app.screen.query_one("#orders", Table).focus()
        await pilot.press("s")  # from outside the ticket: into its amount, on Sell
        assert ticket.side == "sell" and app.focused is amount
        await type_text(pilot, "2")
        await pilot.press("f7")  # in the amount field: the side changes, not what is typed
        await pilot.press("tab")
        await type_text(pilot, "0.25")
        await pilot.press("f8", "f7")  # in the price field: the side, focus stays
        await settle(pilot)
        assert ticket.side == "buy" and app.focused is price
        assert (amount.value, price.value) == ("2", "0.25")
        assert "Fills now 2.00 kWh @ avg 0.2000" in screen_text(app)
        await pilot.press("f8")
        await settle(pilot)
        assert "Proceeds at limit 0.50 WATT" in screen_text(app)
        await pilot.press("escape", "b")  # Esc leaves the ticket; b is the book's again
        assert ticket.side == "buy" and app.focused is amount
        await pilot.press("escape", "o")
        assert app.focused is app.screen.query_one("#orders", Table)
        assert price.value == "0.25"
        await pilot.click("#side", offset=(2, 0))  # the mouse: on " ● Buy "
        assert ticket.side == "buy"
        await pilot.click("#side", offset=(12, 0))  # on " ○ Sell "
        assert ticket.side == "sell"


@sync
async def test_letters_typed_in_the_ticket_go_into_the_field_and_never_reach_the_screen(
    market,
) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.15")
        await pilot.press("enter")
        await _confirm_guard(pilot)  # an open order: `c` on the book would cancel it
        await _wait_for(pilot, lambda: app.screen.query_one("#orders", Table).row_count == 1)
        ticket = app.screen.query_one(OrderTicket)
        amount = ticket.query_one("#amount", Input)
        assert app.focused is amount
        await type_text(pilot, "abcsob?1")
        await settle(pilot)
        assert app.screen is not None and isinstance(app.screen, OrderBookScreen)  # no dialog
        assert ticket.side == "buy" and app.focused is amount
        assert amount.value == "abcsob?1"
        assert amount.has_class("-invalid")
        assert "amount 'abcsob?1' is not a number like 0.25" in screen_text(app)
        # the footer says what works while typing, and only that
        keys = app.screen.active_bindings
        assert {"f7", "f8", "escape"} <= keys.keys()
        assert not {"b", "s", "c", "o", "question_mark"} & keys.keys()
        await pilot.press("escape")  # to my orders (o, which leads there, is not listed)
        keys = app.screen.active_bindings
        assert {"b", "s", "c", "l"} <= keys.keys() and not {"f7", "o"} & keys.keys()
        await pilot.press("enter")  # on my orders: nothing is placed from the bad amount
        await settle(pilot)
        assert in_db(EnergyOrder.select().count) == 2  # the seller's and the one above


BAD_NUMBERS = ("0,25", "\u0661\u0660", "\uff11\uff12", "1_0", "-5")
REASONS = {
    "0,25": "'0,25': use a point for decimals: 0.25",
    "\u0661\u0660": "'\u0661\u0660': type the digits 0-9",
    "\uff11\uff12": "'\uff11\uff12': type the digits 0-9",
    "1_0": "'1_0': no spaces or '_' inside a number",
    "-5": "must be more than zero",
}


@sync
async def test_numbers_the_parser_refuses_are_kept_as_typed_marked_and_never_placed(
    market,
) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "2", "0.25")
        fields = {name: ticket.query_one(f"#{name}", Input) for name in ("amount", "price")}
        for name, field in fields.items():
            other = fields["price" if name == "amount" else "amount"]
            for raw in BAD_NUMBERS:
                field.focus()
                await pilot.press("ctrl+a", "ctrl+k", *raw)  # typed key by key
                await settle(pilot)
                assert field.value == raw  # not one character dropped (0,25 was 025)
                assert field.has_class("-invalid") and not other.has_class("-invalid")
                error = ticket.query_one(f"#{name}-error")
                assert error.display
                assert f"{name} {REASONS[raw]}" in screen_text(app)
                assert app.screen.query_one("#place", Button).disabled
                await pilot.press("enter")
                await settle(pilot)
            await pilot.press("ctrl+a", "ctrl+k", *("2" if name == "amount" else "0.25"))
        assert in_db(EnergyOrder.select().count) == 1  # only the seller's
        assert not isinstance(app.screen, ConfirmOrder)


@sync
async def test_a_long_number_is_kept_whole_and_refused_not_cut_to_fit(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "2", "0.25000000001")
        assert ticket.query_one("#price", Input).value == "0.25000000001"
        assert "price has more than 4 decimals" in screen_text(app)
        assert app.screen.query_one("#place", Button).disabled


@sync
async def test_invalid_amount_is_marked_where_typed_and_nothing_is_placed(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "1.234", "0.25")
        assert "amount has more than 2 decimals" in screen_text(app)
        assert app.screen.query_one("#place", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert in_db(EnergyOrder.select().count) == 1  # only the seller's


@sync
async def test_a_viewer_sees_the_book_but_no_ticket(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "viewer")
        await settle(pilot)
        assert not app.screen.query_one("#ticket-pane").display
        assert "0.2000" in screen_text(app)


@sync
async def test_a_viewer_on_a_small_terminal_sees_the_tape_in_place_of_the_ticket(
    market, tmp_path: Path
) -> None:
    """At 80x24 a trader's tape gives its rows to the ticket; a viewer has no ticket, so
    the tape stays, and the empty book does not ask them to type into one."""
    settings, _ = market
    with bind(settings).database.connection_context():
        EnergyOrder.delete().execute()  # an empty book
    app = make_app(*market)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await login(pilot, "viewer")
        await _wait_for(pilot, lambda: app.screen.query_one("#ladder-empty").display)
        assert app.screen.query_one("#tape-pane").region.width > 0
        note = str(app.screen.query_one("#ladder-empty", Static).render())
        assert note == order_book.EMPTY_BOOK_VIEWER
        await pilot.press("ctrl+o")
        await login(pilot, "alice")
        await _wait_for(pilot, lambda: app.screen.query_one("#ladder-empty").display)
        assert app.screen.query_one("#tape-pane").region.width == 0  # the ticket's rows
        assert str(app.screen.query_one("#ladder-empty", Static).render()) == order_book.EMPTY_BOOK


@sync
async def test_another_terminals_order_appears_without_a_key_press(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ladder = app.screen.query_one(PriceLadder)
        levels_before = len(ladder.levels)
        in_db(place_order, SELLER, order_request("sell", "1", "0.2100"))
        await _wait_for(pilot, lambda: len(ladder.levels) == levels_before + 1, tries=60)
        assert "0.2100" in screen_text(app)


@sync
async def test_database_down_shows_a_banner_and_recovers(market) -> None:
    settings, url = market
    path = Path(url.path)
    app = make_app(settings, url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "2", "0.15")
        aside = path.with_suffix(".aside")
        aside.mkdir()
        for suffix in ("", "-wal", "-shm"):
            moved = Path(f"{path}{suffix}")
            if moved.exists():
                shutil.move(moved, aside / moved.name)
        path.mkdir()  # a folder where the file was: SQLite cannot open it
        await _wait_for(pilot, lambda: not app.db_online, tries=80)
        assert "Database unreachable" in screen_text(app)
        path.rmdir()
        for moved in aside.iterdir():
            shutil.move(moved, path.parent / moved.name)
        await _wait_for(pilot, lambda: app.db_online, tries=80)
        assert "Database unreachable" not in screen_text(app)
        assert app.screen.query_one("#price", Input).value == "0.15"  # nothing typed is lost


@sync
async def test_quitting_ends_the_session(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        (session,) = in_db(auth.list_sessions, "alice")
        assert session.ended_at is None
        await pilot.press("ctrl+q")
        await settle(pilot)
    assert app.return_code == 0
    (session,) = in_db(auth.list_sessions, "alice")
    assert session.ended_at is not None and session.end_reason == "logout"


@sync
async def test_log_out_from_the_palette_then_another_user_gets_their_own_screens(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        assert app.screen.query_one("#ticket-pane").display
        await pilot.press("ctrl+p")
        await type_text(pilot, "Log out")
        await settle(pilot)
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.session is None
        (session,) = in_db(auth.list_sessions, "alice")
        assert session.end_reason == "logout"
        await login(pilot, "viewer")
        assert isinstance(app.screen, OrderBookScreen)
        assert not app.screen.query_one("#ticket-pane").display
        assert app.session is not None and app.session.username == "viewer"


@sync
async def test_an_order_behind_a_held_market_lock_says_busy_in_the_ticket(
    market, monkeypatch
) -> None:
    monkeypatch.setenv("DB_TIMEOUT_SECONDS", "1")
    settings = load_settings(db=market[0].database_url)
    bind(settings)  # not the fixture's binding, made with the default 30 s
    app = make_app(settings, market[1])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "2", "0.22")
        holder = sqlite3.connect(market[1].path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # SQLite's market lock: its one writer
        try:
            await pilot.press("enter")
            for _ in range(100):  # not `settle`: other workers wait on the same lock
                if "the market is busy" in screen_text(app):
                    break
                await pilot.pause(0.05)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert "the market is busy" in screen_text(app)
        assert "try again" in screen_text(app)
        assert ticket.query_one("#amount", Input).value == "2"  # kept, to try again
    with bind(settings).database.connection_context():
        assert not EnergyOrder.select().where(EnergyOrder.trader_address == "home-01").exists()


# --- the fat-finger guard -------------------------------------------------------------


@sync
async def test_a_far_price_asks_first_and_enter_there_goes_back_with_the_fields_kept(
    market,
) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "1", "2.5")  # 10 x the grid tariff
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder))
        text = screen_text(app)
        assert "Buy 1.00 kWh @ 2.5000 WATT/kWh" in text
        assert "Cost 2.50 + grid fee 0.13 = 2.63 WATT of 500.00 available" in text  # fee rounds up
        assert "the price 2.5000 is 900% above the grid tariff 0.2500 (more than 20%" in text
        assert app.focused is app.screen.query_one("#back", Button)  # the safe choice
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrderBookScreen)
        assert in_db(EnergyOrder.select().count) == 1  # only the seller's
        assert ticket.query_one("#amount", Input).value == "1"
        assert ticket.query_one("#price", Input).value == "2.5"
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder))
        await pilot.press("n")
        await settle(pilot)
        assert in_db(EnergyOrder.select().count) == 1
        await pilot.press("enter")
        await _confirm_guard(pilot)  # y: placed (and filled at the seller's 0.2000)
        await _wait_for(pilot, lambda: in_db(EnergyOrder.select().count) == 2)


@sync
async def test_an_order_taking_more_than_half_the_balance_asks_first(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "sell", "6", "0.25")  # 6 of 10.50 kWh
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder))
        text = screen_text(app)
        assert "Proceeds at the limit 1.50 WATT; it holds 6.00 of 10.50 kWh" in text
        assert "it commits 6.00 of your 10.50 kWh available (more than half)" in text
        await pilot.press("escape")
        await settle(pilot)
        assert in_db(EnergyOrder.select().count) == 1


@sync
async def test_an_order_inside_the_band_and_the_balance_is_placed_without_asking(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "sell", "2", "0.30")  # 20% above the tariff: inside
        await pilot.press("enter")
        await _wait_for(pilot, lambda: in_db(EnergyOrder.select().count) == 2)
        assert not any(isinstance(screen, ConfirmOrder) for screen in app.screen_stack)
        toasts = [n.message for n in app._notifications]
        assert "Selling 2.00 kWh @ 0.3000: resting on the book" in toasts


# --- the preview ---------------------------------------------------------------------


@sync
async def test_the_preview_follows_the_book_when_another_trader_changes_it(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "5", "0.25")
        assert "Fills now 5.00 kWh @ avg 0.2000 (1.05 WATT)" in screen_text(app)
        buyer = Actor(label="t:b", role="trader", username="buyer", prosumer_address="home-02")
        in_db(prosumers.deposit, SEEDER, "home-02", "10")
        in_db(place_order, buyer, order_request("buy", "4", "0.2000"))
        await _wait_for(pilot, lambda: "Fills now 1.00 kWh @ avg 0.2000" in screen_text(app))
        in_db(place_order, SELLER, order_request("sell", "2", "0.2200"))
        await _wait_for(pilot, lambda: "Fills now 3.00 kWh @ avg 0.2133" in screen_text(app))


@sync
async def test_the_preview_leaves_my_own_orders_out_and_says_it_would_cross_them(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        alice = Actor(label="t:a", role="trader", username="alice", prosumer_address="home-01")
        in_db(place_order, alice, order_request("sell", "3", "0.2100"))
        await _fill_ticket(pilot, "buy", "8", "0.25")
        text = screen_text(app)
        assert "Fills now 5.00 kWh @ avg 0.2000" in text  # the seller's 5, not my 3
        assert "Would cross your own sell at 0.2100: cancel it first" in text


# --- what the screen says --------------------------------------------------------------


@sync
async def test_an_ioc_that_fills_part_says_what_filled_and_what_was_cancelled(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "8", "0.25")
        ticket.query_one("#ioc", Checkbox).value = True
        await settle(pilot)
        await pilot.press("enter")
        await _wait_for(pilot, lambda: any("IOC" in n.message for n in app._notifications))
        toasts = [n.message for n in app._notifications]
        assert toasts.count("Bought 5.00 kWh @ 0.2000 (1.05 WATT with fee)") == 1
        assert "IOC: 5.00 of 8.00 kWh filled, 3.00 cancelled" in toasts


@sync
async def test_my_resting_sell_filled_by_another_terminal_says_sold(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "sell", "2", "0.2500")
        await pilot.press("enter")
        await _wait_for(pilot, lambda: in_db(EnergyOrder.select().count) == 2)
        buyer = Actor(label="t:b", role="trader", username="buyer", prosumer_address="home-02")
        in_db(prosumers.deposit, SEEDER, "home-02", "10")
        # 5 kWh from the seller's 0.2000 first, then my 2 at 0.2500
        in_db(place_order, buyer, order_request("buy", "7", "0.2500"))
        sold = "Sold 2.00 kWh @ 0.2500 (0.50 WATT)"
        await _wait_for(pilot, lambda: sold in [n.message for n in app._notifications])


@sync
async def test_a_busy_market_is_said_in_the_ticket_and_the_fields_are_kept(market) -> None:
    settings, url = market
    app = make_app(settings, url)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "2", "0.25")
        real = order_book.place_order

        def locked(*args: object) -> object:
            try:  # as Peewee raises it: the driver's error in its context
                raise sqlite3.OperationalError("database is locked")
            except sqlite3.OperationalError:
                raise peewee.OperationalError("database is locked")  # noqa: B904

        order_book.place_order = locked  # type: ignore[assignment]
        try:
            await pilot.press("enter")
            await _wait_for(pilot, lambda: bool(ticket.error))
        finally:
            order_book.place_order = real
        assert ticket.error == "Not placed: the market is busy, try again"
        assert "Not placed: the market is busy, try again" in screen_text(app)
        assert ticket.query_one("#amount", Input).value == "2"
        assert app.db_online  # busy is not down: no banner
        await type_text(pilot, "0")  # the next change of the ticket clears it
        assert ticket.error == ""


@sync
async def test_an_empty_book_and_no_open_orders_say_what_to_do(tmp_path: Path) -> None:
    app = make_app(*seeded_database(tmp_path))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        # the notes may wrap in a narrow pane, beside the next pane's lines: read them
        book, orders = (app.screen.query_one(f"#{n}-empty", Static) for n in ("ladder", "orders"))
        assert book.display and orders.display
        assert str(book.render()) == "No orders yet: be the first — type an amount and a price"
        assert str(orders.render()) == "No open orders: place one with the ticket (b / s)"
        assert "No orders yet: be the first" in screen_text(app)
        await _fill_ticket(pilot, "buy", "1", "0.25")
        await pilot.press("enter")  # the first order: both notes go
        await _wait_for(pilot, lambda: not app.screen.query_one("#ladder-empty").display)
        assert not app.screen.query_one("#orders-empty").display


@sync
async def test_enter_pressed_twice_places_one_order(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await _fill_ticket(pilot, "buy", "1", "0.25")
        real = order_book.place_order

        def slow(*args: Any) -> Any:
            time.sleep(0.5)  # a busy market: the second Enter comes while this one waits
            return real(*args)

        order_book.place_order = slow  # type: ignore[assignment]
        try:
            await pilot.press("enter")
            await pilot.pause(0.2)
            await pilot.press("enter")
            await _wait_for(pilot, lambda: in_db(EnergyOrder.select().count) >= 2)
            await settle(pilot)
        finally:
            order_book.place_order = real
        assert in_db(EnergyOrder.select().count) == 2  # the seller's and one buy


@sync
async def test_my_orders_keep_the_cursor_on_its_order_when_another_terminal_adds_one(
    market,
) -> None:
    """The refresh changes only the rows that changed: a new order of mine comes in
    at the top of my open orders and the cursor stays on the order it was on."""
    for price in ("0.1000", "0.1100", "0.1200"):
        in_db(place_order, ALICE, order_request("buy", "1", price))
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        screen = app.screen
        assert isinstance(screen, OrderBookScreen)
        orders = screen.query_one("#orders", Table)
        await _wait_for(pilot, lambda: orders.row_count == 3)
        await pilot.press("o", "j")  # onto the second newest: the one at 0.1100
        chosen = screen.query_one(MyOrders).selected_open()
        assert chosen is not None and chosen.price == Decimal("0.1100")
        first_cells = orders.get_row(str(chosen.id))
        in_db(place_order, ALICE, order_request("buy", "1", "0.1300"))
        await _wait_for(pilot, lambda: orders.row_count == 4, tries=60)
        assert str(orders.get_row_at(0)[2]) == "0.1300"  # the new one, on top
        again = screen.query_one(MyOrders).selected_open()
        assert again is not None and again.id == chosen.id
        # its row was not made again: the same cells, moved down one
        assert all(a is b for a, b in zip(orders.get_row(str(chosen.id)), first_cells, strict=True))
