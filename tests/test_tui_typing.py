"""Keys that arrive in a burst (a paste of keystrokes, `tmux send-keys`) apply in the
order typed: Backspace and Enter among the characters, Tab and Shift+Tab between the
fields of every form, Enter on to the next field and submitting from the last."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Input

from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.db.models import EnergyOrder
from energy_tui.runtime import bind
from energy_tui.services import alerts, prosumers
from energy_tui.services.market import OrderRequest, order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.admin import AdminScreen
from energy_tui.tui.screens.alerts import AlertsScreen
from energy_tui.tui.screens.keys import KeysScreen
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
    SEEDER,
    SELLER,
    app_for,
    burst,
    in_db,
    login,
    open_screen,
    seeded_database,
    settle,
    sync,
)

SIZE = (80, 24)


def values(screen) -> dict[str, str]:
    return {str(i.id): i.value for i in screen.query(Input)}


async def wait_for(pilot, condition) -> None:
    for _ in range(200):
        await settle(pilot)
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


@sync
async def test_a_login_typed_in_one_burst_lands_in_its_fields_in_order(database) -> None:
    app = app_for(*database)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen) and app.focused)
        login = app.screen
        await burst(pilot, *"alicx", "backspace", "e", "tab", *"ali-pass9", "backspace", "1")
        assert values(login) == {"username": "alice", "password": "ali-pass1"}
        assert app.focused is login.query_one("#password")
        # back (a field reached by Tab or Enter has its text selected: End keeps it)
        await burst(pilot, "shift+tab", "end", "!", "backspace", "enter", "end", "x", "backspace")
        assert values(login) == {"username": "alice", "password": "ali-pass1"}
        assert app.focused is login.query_one("#password")  # Enter: on to the next field
        await burst(pilot, "enter")  # on the last: logs in
        await wait_for(pilot, lambda: isinstance(app.screen, OrderBookScreen))
        assert app.session is not None and app.session.username == "alice"


@sync
async def test_the_first_admin_created_in_one_burst_of_keys(tmp_path: Path) -> None:
    settings = load_settings(db=f"sqlite://{tmp_path / 'empty.db'}")
    runtime = bind(settings)
    with runtime.database.connection_context():
        migrations.migrate(runtime.database)
    app = make_app(settings, runtime.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FirstRunScreen) and app.focused)
        keys = ["rooX", "backspace", "t", "enter", "root@example.org", "tab"]
        keys += ["first-pass", "enter", "first-pasX", "backspace", "s", "enter"]
        await burst(pilot, *_split(keys))
        await wait_for(pilot, lambda: isinstance(app.screen, OrderBookScreen))
        assert app.session is not None
        assert (app.session.username, app.session.role) == ("root", "admin")


def _split(keys: list[str]) -> list[str]:
    """Key names as they are, text as its characters."""
    named = {"backspace", "enter", "tab", "shift+tab", "end"}
    return [k for key in keys for k in ([key] if key in named else list(key))]


@sync
async def test_tab_shift_tab_and_enter_walk_the_fields_of_a_form_in_a_burst(database) -> None:
    app = app_for(*database)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_screen(pilot, "admin", "f6", AdminScreen)
        await pilot.press("u", "a")  # users tab, add a user
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormModal)
        keys = _split(["carox", "backspace", "l", "enter", "c@example.org", "enter"])
        # Enter skips the selects to the password; Tab and Shift+Tab visit them
        keys += _split(["pass-wordX", "backspace", "1", "tab", "pass-word1"])
        keys += _split(["shift+tab", "shift+tab", "shift+tab", "shift+tab", "end", "!"])
        await burst(pilot, *keys)
        assert values(form) == {
            "username": "carol",
            "email": "c@example.org!",
            "password": "pass-word1",
            "again": "pass-word1",
        }


async def open_form(pilot, username: str, fkey: str, screen: type, key: str) -> FormModal:
    """Log in as `username`, open `screen` with `fkey` and its form with `key`."""
    await open_screen(pilot, username, fkey, screen)
    await pilot.press(key)
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, FormModal)
    return form


@sync
async def test_the_password_form_takes_a_burst_with_tab_and_enter(database) -> None:
    app = app_for(*database)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot, "alice", "f4", AccountScreen, "p")
        await burst(pilot, *_split(["ali-pass1", "tab", "new-pass-1", "enter", "new-pass-X"]))
        await burst(pilot, "backspace", "1")
        assert values(form) == {"current": "ali-pass1", "new": "new-pass-1", "again": "new-pass-1"}


@sync
async def test_the_key_form_takes_a_burst_with_tab(database) -> None:
    app = app_for(*database)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot, "admin", "f5", KeysScreen, "n")
        await burst(pilot, *_split(["backupX", "backspace", "s", "tab", "end", "-bot"]))
        assert values(form)["name"] == "backups"
        assert values(form)["owner"] == "admin-bot"


@sync
async def test_an_alert_price_typed_in_a_burst_is_set_as_typed(database) -> None:
    app = app_for(*database)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, "alice", "f1", OrderBookScreen)
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await burst(pilot, *"0.129", "backspace", "5", "enter")
        actor = app.actor
        await wait_for(pilot, lambda: in_db(alerts.list_alerts, actor))
        assert [str(a.price) for a in in_db(alerts.list_alerts, actor)] == ["0.1250"]


@pytest.fixture
def market(tmp_path: Path):
    """The seeded users plus a resting ask of 5 kWh at 0.2000."""
    settings, url = seeded_database(tmp_path)
    with bind(settings).database.connection_context():
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn", "residential")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        place_order(SELLER, order_request("sell", "5", "0.2000"))
    return settings, url


@sync
async def test_an_order_typed_in_a_burst_is_submitted_and_placed_as_typed(market) -> None:
    submitted: list[OrderRequest] = []

    def hook(message: Message) -> None:
        if isinstance(message, OrderTicket.Submitted):
            submitted.append(message.request)

    app = make_app(*market)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await login(pilot, "alice")
        await pilot.press("b")  # into the ticket's amount field
        ticket = app.screen.query_one(OrderTicket)
        # as `tmux send-keys "12.5" BSpace "0" Tab "0.29" BSpace "5" Enter "7"` would
        await burst(
            pilot, *"12.5", "backspace", "0", "tab", *"0.29", "backspace", "5", "enter", "7"
        )
        assert [(r.side, r.amount, r.price) for r in submitted] == [
            ("buy", Decimal("12.00"), Decimal("0.2500"))
        ]
        await wait_for(
            pilot,
            lambda: (
                in_db(EnergyOrder.select().where(EnergyOrder.trader_address == "home-01").count)
                == 1
            ),
        )
        order = in_db(EnergyOrder.get, EnergyOrder.trader_address == "home-01")
        assert (order.energy_amount, order.price_per_kwh) == (Decimal("12.00"), Decimal("0.2500"))
        assert ticket.query_one("#price", Input).value == "0.257"  # the 7 came after Enter
