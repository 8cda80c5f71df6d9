"""Pilot tests of the first run, the login and the order book screen."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from energy_tui.cli.runtime import bind
from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.db.models import EnergyOrder
from energy_tui.services import auth, prosumers
from energy_tui.services.context import Actor
from energy_tui.services.market import MarketRules, order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.ladder import PriceLadder
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
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

RULES = MarketRules()


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
        assert any("filled" in message for message in toasts), toasts
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
        await _wait_for(pilot, lambda: app.screen.query_one("#orders", Table).row_count == 1)
        assert in_db(prosumers.balances, "home-01").watt_reserved == Decimal("0.32")
        await pilot.press("escape", "c")
        await settle(pilot)
        assert "Cancel this order?" in screen_text(app)
        await pilot.press("y")
        await _wait_for(pilot, lambda: app.screen.query_one("#orders", Table).row_count == 0)
        assert in_db(prosumers.balances, "home-01").watt_reserved == Decimal("0.00")


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
async def test_b_and_s_choose_the_side_from_the_book_and_inside_the_ticket(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = app.screen.query_one(OrderTicket)
        app.screen.query_one("#orders", Table).focus()
        await pilot.press("s")  # from outside the ticket: into its amount, on Sell
        assert ticket.side == "sell" and app.focused is ticket.query_one("#amount")
        await type_text(pilot, "2")
        await pilot.press("b")  # in the amount field: the side changes, not what is typed
        await pilot.press("tab")
        await type_text(pilot, "0.25")
        await pilot.press("s", "b")  # in the price field: the side, and back to the amount
        await settle(pilot)
        assert ticket.side == "buy" and app.focused is ticket.query_one("#amount")
        assert ticket.query_one("#amount", Input).value == "2"
        assert ticket.query_one("#price", Input).value == "0.25"
        assert "Fills now 2.00 kWh @ avg 0.2000" in screen_text(app)
        await pilot.press("s")
        await settle(pilot)
        assert "Proceeds at limit 0.50 WATT" in screen_text(app)
        await pilot.press("o")  # other letters reach the screen: to my orders
        assert app.focused is app.screen.query_one("#orders", Table)
        assert ticket.query_one("#price", Input).value == "0.25"
        await pilot.click("#side", offset=(2, 0))  # the mouse: on " ● Buy "
        assert ticket.side == "buy"
        await pilot.click("#side", offset=(12, 0))  # on " ○ Sell "
        assert ticket.side == "sell"


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
async def test_another_terminals_order_appears_without_a_key_press(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ladder = app.screen.query_one(PriceLadder)
        rows_before = ladder.row_count
        in_db(place_order, SELLER, order_request("sell", "1", "0.2100"))
        await _wait_for(pilot, lambda: ladder.row_count == rows_before + 1, tries=60)
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
    import sqlite3

    monkeypatch.setenv("DB_TIMEOUT_SECONDS", "1")
    settings = load_settings(db=market[0].database_url)
    bind(settings)  # not the fixture's binding, made with the default 30 s
    app = make_app(settings, market[1])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        ticket = await _fill_ticket(pilot, "buy", "2", "0.15")
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
