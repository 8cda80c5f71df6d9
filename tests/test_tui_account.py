"""The account screen (F4): balances, meter readings, sessions, password change."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input, Static

from energy_tui.config import Settings
from energy_tui.errors import AuthError
from energy_tui.services import audit, auth, users
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.login import LoginScreen
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import (
    PEOPLE,
    SIZE,
    app_for,
    field_error,
    in_db,
    open_screen,
    screen_text,
    settle,
    type_text,
)


async def open_account(pilot, username: str) -> AccountScreen:
    return await open_screen(pilot, username, "f4", AccountScreen)


async def change_password(pilot, current: str, new: str, again: str) -> FormModal:
    await pilot.press("p")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, FormModal)
    for text in (current, new, again):
        await type_text(pilot, text)
        await pilot.press("enter")  # next field; submits on the last
    await settle(pilot)
    return form


def test_account_shows_my_balances_readings_and_this_session(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_account(pilot, "alice")
            text = screen_text(app)
            assert "home-01" in text and "Rooftop, 3 Elm Street" in text
            assert "WATT" in text and "500.00" in text
            assert "10.50" in text  # credits: 12.50 generated - 2.00 consumed
            assert "GRID" in text
            readings = screen.query_one("#readings", Table)
            assert [str(c) for c in readings.get_row_at(0)][1:3] == ["12.50", "2.00"]
            sessions = screen.query_one("#sessions", Table)
            assert sessions.row_count == 1
            assert "this one" in str(sessions.get_row_at(0)[0])

    asyncio.run(scenario())


def test_user_without_prosumer_is_told_so(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_account(pilot, "viewer")
            assert "No prosumer is linked to your account" in screen_text(app)
            assert not screen.query_one("#readings-pane").display
            assert screen.query_one("#sessions", Table).row_count == 1

    asyncio.run(scenario())


def test_change_password_keeps_this_session_and_ends_the_others(database) -> None:
    settings: Settings = database[0]
    old = PEOPLE["alice"][0]
    elsewhere = in_db(auth.authenticate, "alice", old, "203.0.113.9", settings)

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_account(pilot, "alice")
            assert screen.query_one("#sessions", Table).row_count == 2
            await change_password(pilot, old, "new-pass-2", "new-pass-2")
            assert app.screen is screen
            await settle(pilot)
            assert "Password changed" in screen_text(app)  # the toast

            mine = app.session
            assert mine is not None
            listed = {s.id: s for s in in_db(auth.list_sessions, "alice")}
            assert listed[mine.session_id].active
            assert listed[elsewhere.session_id].end_reason == "password_changed"
            rows = [str(screen.query_one("#sessions", Table).get_row_at(i)[4]) for i in range(2)]
            assert "password changed" in rows

            with pytest.raises(AuthError):
                in_db(auth.authenticate, "alice", old, None, settings)
            assert (
                in_db(auth.authenticate, "alice", "new-pass-2", None, settings).username == "alice"
            )
            changed = in_db(audit.entries, event_type="password_changed", limit=1)[0]
            assert changed.username == "alice"
            assert "new-pass-2" not in str(in_db(audit.entries, limit=1000))

            # the lock screen takes the new password
            await pilot.press("ctrl+l")
            await settle(pilot)
            assert isinstance(app.screen, LoginScreen)
            await type_text(pilot, "new-pass-2")
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is screen

    asyncio.run(scenario())


def test_wrong_current_password_is_refused_inline_and_counted(database) -> None:
    settings: Settings = database[0]

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_account(pilot, "alice")
            form = await change_password(pilot, "not-my-pw", "new-pass-2", "new-pass-2")
            assert app.screen is form
            assert field_error(form, "current").startswith(auth.WRONG_CURRENT)
            assert form.query_one("#current", Input).has_class("-invalid")
            assert in_db(users.get, "alice").failed_logins == 1
            old = PEOPLE["alice"][0]
            assert in_db(auth.authenticate, "alice", old, None, settings).username == "alice"

    asyncio.run(scenario())


def test_new_passwords_that_differ_or_are_short_are_refused_inline(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_account(pilot, "alice")
            old = PEOPLE["alice"][0]
            form = await change_password(pilot, old, "new-pass-2", "new-pass-3")
            assert field_error(form, "again") == "the two new passwords differ"

            await pilot.press("escape")
            await settle(pilot)
            form = await change_password(pilot, old, "short", "short")
            assert "at least 8 characters" in field_error(form, "new")
            assert field_error(form, "again") == ""
            assert in_db(users.get, "alice").failed_logins == 0

    asyncio.run(scenario())


def test_no_meter_readings_yet_says_where_they_come_from(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_account(pilot, "bob")  # home-02: never read
            note = screen.query_one("#readings-empty", Static)
            assert note.display
            assert str(note.content).startswith("No meter readings yet:")
            assert "Admin, Prosumers tab, m" in str(note.content)

    asyncio.run(scenario())
