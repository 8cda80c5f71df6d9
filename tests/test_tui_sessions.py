"""Sessions are enforced in the terminal, not just recorded: a session ended elsewhere,
idle or too old, or a user whose role changed, is checked before each call."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from energy_tui.db.models import EnergyOrder, Session
from energy_tui.runtime import bind
from energy_tui.services import auth, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.market import order_request, place_order
from energy_tui.tui.app import EnergyApp, make_app
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.admin import AdminScreen
from energy_tui.tui.screens.login import LoginScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
    PEOPLE,
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
ENDED = {
    "logout": "you logged out in another session",
    "password_changed": "your password was changed in another session or by an operator",
    "disabled": "your account was disabled",
}


@pytest.fixture
def market(tmp_path: Path, now):
    """The seeded users plus a seller's ask at 0.2600, with the clock frozen (`now`)."""
    settings, url = seeded_database(tmp_path)
    with bind(settings).database.connection_context():
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn", "residential")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        place_order(SELLER, order_request("sell", "5", "0.2600"))
    return settings, url


def quiet_app(market) -> EnergyApp:
    """The app without its market poll, so the call a test makes is the one that
    meets the ended session (the poll would notice it within a second too)."""
    app = make_app(*market)
    app.poll_market = lambda: None  # type: ignore[method-assign]
    return app


def orders() -> list[tuple[str, str]]:
    return [(o.trader_address, o.status) for o in in_db(lambda: list(EnergyOrder.select()))]


def end_elsewhere(how: str, app: EnergyApp) -> None:
    """What another terminal or an operator does to alice's session."""
    assert app.session is not None
    if how == "logout":
        in_db(auth.logout, app.session.token)
    elif how == "password_changed":
        in_db(users.set_password, SEEDER, "alice", "other-pass-2", rounds=4)
    else:
        in_db(users.set_active, SEEDER, "alice", False)


async def fill_ticket(pilot, amount: str = "2", price: str = "0.22") -> None:
    await pilot.press("b")
    await type_text(pilot, amount)
    await pilot.press("tab")
    await type_text(pilot, price)
    await settle(pilot)


async def place(pilot) -> None:
    await pilot.press("enter")
    await settle(pilot)


def login_reason(app: EnergyApp) -> str:
    """The message the login screen shows above its button."""
    assert isinstance(app.screen, LoginScreen), app.screen
    message = app.screen.query_one("#form-error", Static)
    return str(message.content) if message.display else ""


def session_row(app: EnergyApp) -> Session:
    assert app.session is not None
    return in_db(Session.get_by_id, app.session.session_id)


@pytest.mark.parametrize("how", list(ENDED))
@sync
async def test_a_session_ended_elsewhere_places_nothing_and_says_why(market, how) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await fill_ticket(pilot)
        before = orders()
        end_elsewhere(how, app)
        await place(pilot)
        assert orders() == before
        assert ENDED[how] in login_reason(app)
        assert session_row(app).end_reason == how


@pytest.mark.parametrize("how", list(ENDED))
@sync
async def test_a_session_ended_elsewhere_cancels_nothing(market, how) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await fill_ticket(pilot)
        await place(pilot)
        assert ("home-01", "open") in orders()
        held = in_db(prosumers.balances, "home-01").watt_reserved
        end_elsewhere(how, app)
        await pilot.press("escape", "c")  # to my orders; cancel the one there
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert ("home-01", "open") in orders()
        assert in_db(prosumers.balances, "home-01").watt_reserved == held
        assert ENDED[how] in login_reason(app)


@pytest.mark.parametrize(
    ("minutes", "reason", "message"),
    [
        (16, "idle", "locked after 15 minutes without activity"),
        (12 * 60, "expired", "sessions last at most 12 hours"),
    ],
)
@sync
async def test_an_idle_or_too_old_session_places_nothing(
    market, now, minutes, reason, message
) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await fill_ticket(pilot)
        before = orders()
        now.advance(minutes=minutes)
        if reason == "expired":  # active a minute ago: only the session's age ends it
            seen = now() - dt.timedelta(minutes=1)
            row = session_row(app)
            in_db(Session.update(last_seen=seen).where(Session.id == row.id).execute)
        await place(pilot)
        assert orders() == before
        assert message in login_reason(app)
        assert session_row(app).end_reason == reason


@sync
async def test_logging_in_again_after_an_ended_session_opens_a_new_one(market) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await fill_ticket(pilot)
        end_elsewhere("logout", app)
        await place(pilot)
        assert isinstance(app.screen, LoginScreen)
        await type_text(pilot, PEOPLE["alice"][0])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrderBookScreen)
        # back in the ticket (Esc, then b from the book), what was typed is still there
        await pilot.press("escape", "b", "enter")
        await settle(pilot)
        assert ("home-01", "open") in orders()
        assert app.session is not None
        reasons = {s.id: s.end_reason for s in in_db(auth.list_sessions, "alice")}
        assert reasons.pop(app.session.session_id) is None
        assert list(reasons.values()) == ["logout"]


@sync
async def test_a_trader_demoted_to_viewer_loses_the_ticket_and_places_nothing(market) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await fill_ticket(pilot)
        before = orders()
        in_db(users.set_role, SEEDER, "alice", "viewer")
        await place(pilot)
        assert orders() == before
        screen = app.screen
        assert isinstance(screen, OrderBookScreen)
        assert not screen.trading and not screen.query_one("#ticket-pane").display
        assert app.session is not None and app.session.role == "viewer"
        assert session_row(app).ended_at is None  # still logged in, as a viewer
        assert any("role viewer" in n.message for n in app._notifications)
        await pilot.press("b")  # no ticket, no key for it
        assert not screen.query_one(OrderTicket).has_focus_within


@sync
async def test_a_viewer_promoted_gains_the_ticket_and_screens_at_the_next_action(market) -> None:
    in_db(users.set_role, SEEDER, "alice", "viewer")
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        screen = app.screen
        assert isinstance(screen, OrderBookScreen)
        assert not screen.query_one("#ticket-pane").display
        await pilot.press("f6")
        assert isinstance(app.screen, OrderBookScreen)  # no admin screen for a viewer
        in_db(users.set_role, SEEDER, "alice", "admin")
        await pilot.press("r")  # the next action: a refresh
        await settle(pilot)
        assert screen.trading and screen.query_one("#ticket-pane").display
        await fill_ticket(pilot)
        await place(pilot)
        assert ("home-01", "open") in orders()
        await pilot.press("escape", "f6")
        await settle(pilot)
        assert isinstance(app.screen, AdminScreen)


@sync
async def test_a_form_opened_before_a_role_change_writes_nothing_and_closes(market) -> None:
    app = quiet_app(market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await pilot.press("f4", "p")  # the account screen's password form
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        in_db(users.set_role, SEEDER, "alice", "viewer")
        app.read_market_version()  # the poll notices first: the app acts as a viewer
        await settle(pilot)
        assert app.session is not None and app.session.role == "viewer"
        assert isinstance(app.screen, FormModal)  # still open, prepared for the trader
        for text in (PEOPLE["alice"][0], "changed-pass-3", "changed-pass-3"):
            await type_text(pilot, text)
            await pilot.press("enter")  # next field; submits on the last
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen)  # the form closed
        assert any("role viewer" in n.message for n in app._notifications)
        settings = app.settings
        assert in_db(auth.authenticate, "alice", PEOPLE["alice"][0], None, settings)


@sync
async def test_the_poll_notices_an_ended_session_without_a_key_press(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        end_elsewhere("disabled", app)
        for _ in range(60):  # the poll runs every second
            await pilot.pause(0.1)
            if isinstance(app.screen, LoginScreen):
                break
        await settle(pilot)
        assert ENDED["disabled"] in login_reason(app)
        assert "Session ended" in screen_text(app)


@sync
async def test_last_seen_moves_on_activity_at_most_once_a_minute(market, now) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        started = now()

        def last_seen() -> dt.datetime:
            return session_row(app).last_seen

        async def polls(count: int = 2) -> None:
            """Let the market poll (every second) run `count` times."""
            await pilot.pause(count * 1.05)
            await settle(pilot)

        now.advance(minutes=5)
        await polls()  # no key pressed: the poll alone is not activity
        assert last_seen() == started
        await pilot.press("r")
        await polls()
        assert last_seen() == now()
        seen = now()
        now.advance(seconds=30)
        await pilot.press("r", "o")
        await polls()
        assert last_seen() == seen  # less than a minute since it moved
        now.advance(seconds=30)
        await polls()  # the keys of 30 s ago are reported now, with no new key
        assert last_seen() == now()
        app.screen.query_one(OrderTicket).focus_amount()
        now.advance(minutes=2)
        await pilot.press("5")  # typing in a field is activity too
        await polls()
        assert last_seen() == now()


@sync
async def test_the_idle_lock_ends_the_session_and_unlocking_starts_a_new_one(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        first = app.session
        assert first is not None
        app.last_activity = time.monotonic() - 16 * 60
        app.lock_if_idle()
        await settle(pilot)
        assert "locked after 15 minutes without activity" in login_reason(app)
        listed = in_db(auth.list_sessions, "alice")
        assert [(s.id, s.end_reason) for s in listed] == [(first.session_id, "idle")]
        await type_text(pilot, PEOPLE["alice"][0])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrderBookScreen)
        assert app.session is not None and app.session.session_id != first.session_id
        reasons = {s.id: s.end_reason for s in in_db(auth.list_sessions, "alice")}
        assert reasons == {first.session_id: "idle", app.session.session_id: None}


@sync
async def test_ctrl_l_ends_the_session_as_locked(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice", typed=False)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and login_reason(app) == ""
        [session] = in_db(auth.list_sessions, "alice")
        assert session.end_reason == "locked"
        await type_text(pilot, PEOPLE["alice"][0])
        await pilot.press("enter", "f4")  # the account screen lists it as ended
        await settle(pilot)
        rows = app.screen.query_one("#sessions", Table)
        assert rows.row_count == 2
        assert "locked" in [str(rows.get_row_at(i)[4]) for i in range(2)]
