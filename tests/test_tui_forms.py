"""Forms and confirmations that are safe with money: amounts kept as typed and refused
with the reason while wrong, questions that open on the safe answer, a login retry that
starts afresh, the tries left before a lockout, and a visible way to log out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Static

from energy_tui.errors import AuthError, ValidationError
from energy_tui.services import audit, auth, keys, prosumers, users
from energy_tui.services.auth import actor_for_user
from energy_tui.services.context import Actor
from energy_tui.services.market import order_request, place_order
from energy_tui.services.market.money import MarketRules
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.admin import AdminScreen
from energy_tui.tui.screens.help import HelpScreen
from energy_tui.tui.screens.keys import KeysScreen
from energy_tui.tui.screens.login import LoginScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
    PEOPLE,
    SIZE,
    app_for,
    clear_and_type,
    field_error,
    in_db,
    login,
    open_screen,
    screen_text,
    settle,
    type_text,
)

WRONG_AMOUNTS = ("0,25", "-5", "abc", "1.234")


def reason(parse: Callable[[str], object], raw: str) -> str:
    """What the service's own parser says of `raw`."""
    with pytest.raises(ValidationError) as caught:
        parse(raw)
    return str(caught.value)


def written() -> tuple[object, ...]:
    """Everything a deposit, withdrawal or meter reading would change."""
    moves = [
        e
        for e in audit.entries(limit=1000)
        if e.event_type in ("deposit", "withdrawal", "meter_reading")
    ]
    return tuple(prosumers.list_prosumers()), len(moves)


async def open_prosumer_form(pilot, key: str) -> FormModal:
    """As the operator, on home-01 in the prosumers tab, press `key` (d, w or m)."""
    screen = await open_screen(pilot, "operator", "f6", AdminScreen)
    table = screen.query_one("#prosumers", Table)
    table.focus()
    while table.selected_key() != "home-01":
        await pilot.press("j")
    await pilot.press(key)
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, FormModal)
    return form


# -- amounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "field", "parse", "negative"),
    [
        ("d", "amount", prosumers.money, "amount must be more than zero"),
        ("w", "amount", prosumers.money, "amount must be more than zero"),
        (
            "m",
            "generated",
            lambda raw: prosumers.energy(raw, "generated", allow_zero=True),
            "generated must be zero or more",
        ),
    ],
    ids=["deposit", "withdraw", "meter-reading"],
)
def test_wrong_amounts_are_kept_as_typed_refused_live_with_the_reason_and_never_written(
    database, key: str, field: str, parse: Callable[[str], object], negative: str
) -> None:
    before = in_db(written)

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_prosumer_form(pilot, key)
            for raw in WRONG_AMOUNTS:
                form.query_one(f"#{field}", Input).focus()
                await clear_and_type(pilot, raw)
                await pilot.pause()
                # every character stays, and the reason shows before any submit
                assert form.query_one(f"#{field}", Input).value == raw
                assert field_error(form, field) == reason(parse, raw)
                assert form.query_one(f"#{field}", Input).has_class("-invalid")
                assert form.query_one("#submit", Button).disabled
                await pilot.press("enter", "ctrl+s")
                await settle(pilot)
                assert app.screen is form, f"{raw!r} got past the form"
                assert field_error(form, field) == reason(parse, raw)
            assert negative in reason(parse, "-5")
            assert "more than 2 decimals" in reason(parse, "1.234")
            assert "more than 2 decimals" in screen_text(app)

    asyncio.run(scenario())
    assert in_db(written) == before


def test_fixing_the_amount_clears_the_reason_and_enables_submit(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_prosumer_form(pilot, "d")
            await type_text(pilot, "-5")
            assert field_error(form, "amount")
            await pilot.press("home", "delete")
            await pilot.pause()
            assert form.query_one("#amount", Input).value == "5"
            assert field_error(form, "amount") == ""
            assert not form.query_one("#amount", Input).has_class("-invalid")
            assert not form.query_one("#submit", Button).disabled

    asyncio.run(scenario())


def test_a_wrong_audit_count_is_kept_as_typed_and_refused(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_screen(pilot, "admin", "f6", AdminScreen)
            await pilot.press("l")
            await settle(pilot)
            rows = screen.query_one("#audit", Table).row_count
            await pilot.click("#audit-limit")
            await clear_and_type(pilot, "-5")
            await pilot.press("enter")
            await settle(pilot)
            limit = screen.query_one("#audit-limit", Input)
            assert limit.value == "-5" and limit.has_class("-invalid")
            assert screen.query_one("#audit-error", Static).display  # the reason, shown
            assert screen.query_one("#audit", Table).row_count == rows

    asyncio.run(scenario())


# -- confirmations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "question", "after"),
    [
        ("d", "Deposit 1,250.50 WATT to home-01?", Decimal("1750.50")),
        ("w", "Withdraw 1,250.50 WATT from home-01?", None),
    ],
    ids=["deposit", "withdraw"],
)
def test_money_moves_only_after_a_question_that_names_amount_and_prosumer(
    database, key: str, question: str, after: Decimal | None
) -> None:
    if after is None:  # withdraw: first give home-01 enough
        in_db(prosumers.deposit, Actor(label="test", role="admin"), "home-01", "1000")
        after = Decimal("249.50")
    before = in_db(prosumers.balances, "home-01").watt_total

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_prosumer_form(pilot, key)
            await type_text(pilot, "1250.5")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            assert question in screen_text(app)
            assert app.screen.focused is app.screen.query_one("#no", Button)
            await pilot.press("enter")  # on the safe answer: back to the form, nothing moved
            await settle(pilot)
            assert app.screen is form
            assert in_db(prosumers.balances, "home-01").watt_total == before

            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await settle(pilot)
            assert isinstance(app.screen, AdminScreen)
            assert in_db(prosumers.balances, "home-01").watt_total == after

    asyncio.run(scenario())


def test_the_confirm_button_is_reached_by_a_deliberate_move(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_prosumer_form(pilot, "d")
            await type_text(pilot, "5")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("left", "enter")  # to "Deposit (y)", then Enter
            await settle(pilot)
            assert isinstance(app.screen, AdminScreen)
            assert in_db(prosumers.balances, "home-01").watt_total == Decimal("505.00")

    asyncio.run(scenario())


@pytest.mark.parametrize(("safe", "enter_answers"), [(True, False), (False, True)])
def test_enter_gives_the_focused_answer_no_unless_the_question_is_harmless(
    safe: bool, enter_answers: bool
) -> None:
    answers: list[bool | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(Confirm("Replace it?", safe=safe), answers.append)

    async def scenario() -> None:
        async with Host().run_test() as pilot:
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()

    asyncio.run(scenario())
    assert answers == [enter_answers]


def test_enter_does_not_disable_a_user_but_y_does(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_screen(pilot, "admin", "f6", AdminScreen)
            table = screen.query_one("#users", Table)
            table.focus()
            while table.selected_key() != "bob":
                await pilot.press("j")
            await pilot.press("d")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is screen
            assert in_db(users.get, "bob").is_active

            await pilot.press("d")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert not in_db(users.get, "bob").is_active

    asyncio.run(scenario())


def test_enter_does_not_revoke_a_key_but_y_does(database) -> None:
    alice = actor_for_user(in_db(users.get, "alice"), None)
    in_db(keys.create_key, alice, "alice", "old script", ["read"])

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_screen(pilot, "alice", "f5", KeysScreen)
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is screen
            assert in_db(keys.list_keys, alice)[0].status == "active"

            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert in_db(keys.list_keys, alice)[0].status == "revoked"

    asyncio.run(scenario())


def test_enter_does_not_cancel_an_order_but_y_does(database) -> None:
    alice = Actor(label="alice", role="trader", username="alice", prosumer_address="home-01")
    in_db(place_order, alice, order_request("buy", "2", "0.1500"))

    def open_orders() -> int:
        return in_db(prosumers.balances, "home-01").watt_reserved > 0

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await login(pilot, "alice")
            await pilot.press("o", "c")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            assert "Cancel this order?" in screen_text(app)
            await pilot.press("enter")
            await settle(pilot)
            assert not isinstance(app.screen, Confirm)
            assert open_orders()

            await pilot.press("o", "c")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert not open_orders()

    asyncio.run(scenario())


# -- login, password, logout --------------------------------------------------------------


def test_a_failed_login_clears_the_password_so_the_retry_is_not_appended(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LoginScreen)
            await type_text(pilot, "alice")
            await pilot.press("enter")
            await type_text(pilot, "wrong-pw")
            await pilot.press("enter")
            await settle(pilot)
            password = screen.query_one("#password", Input)
            assert "invalid username or password" in screen_text(app)
            assert password.value == ""
            assert screen.focused is password
            assert in_db(users.get, "alice").failed_logins == 1

            await type_text(pilot, PEOPLE["alice"][0])  # the retry, typed straight away
            await pilot.press("enter")
            await settle(pilot)
            assert app.session is not None and app.session.username == "alice"

    asyncio.run(scenario())


def test_wrong_current_password_says_how_many_tries_are_left(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_screen(pilot, "alice", "f4", AccountScreen)
            await pilot.press("p")
            await settle(pilot)
            form = app.screen
            assert isinstance(form, FormModal)
            for text in ("not-my-pw", "new-pass-2", "new-pass-2"):
                await type_text(pilot, text)
                await pilot.press("enter")
            await settle(pilot)
            assert field_error(form, "current") == (
                "the current password is not right: 4 tries left before the account "
                "locks for 15 minutes"
            )
            assert in_db(users.get, "alice").failed_logins == 1
            current = form.query_one("#current", Input)
            assert current.value == "" and form.focused is current  # the retry starts afresh

    asyncio.run(scenario())


def test_log_out_stays_in_the_footer_of_an_80_column_terminal(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=(80, 24)) as pilot:
            await login(pilot, "alice")
            await pilot.press("escape")  # out of the ticket: the book's own keys first
            await settle(pilot)
            footer = screen_text(app).splitlines()[-4:]
            assert any("Log out" in line and "c Cancel" in line for line in footer)

    asyncio.run(scenario())


def test_log_out_is_a_key_in_the_footer_and_in_help(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await login(pilot, "alice")
            assert "^o Log out" in screen_text(app)
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            help_lines = screen_text(app).splitlines()
            assert any("Ctrl+O" in line and "log out" in line for line in help_lines)
            await pilot.press("escape")
            token = app.session.token if app.session else ""

            await pilot.press("ctrl+o")
            await settle(pilot)
            assert isinstance(app.screen, LoginScreen)
            assert app.session is None
            with pytest.raises(AuthError):
                in_db(auth.resume, token, database[0])

    asyncio.run(scenario())


def test_the_ticket_lays_out_a_field_error_again_only_when_it_changed() -> None:
    """The order book asks the ticket for the order as typed on every refresh (issue 15):
    an error shown as before is not updated (and laid out) again; a new one is."""
    updates: list[str] = []

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield OrderTicket(MarketRules())

    async def scenario() -> None:
        async with Host().run_test() as pilot:
            ticket = pilot.app.query_one(OrderTicket)
            label = ticket.query_one("#amount-error", Static)
            update = label.update

            def counted(content: Any = "", **kwargs: Any) -> None:
                updates.append(str(content))
                update(content, **kwargs)

            label.update = counted  # type: ignore[method-assign]
            ticket.query_one("#amount", Input).value = "abc"
            await pilot.pause()
            updates.clear()
            for _ in range(3):  # three refreshes of the book, nothing typed
                assert ticket.current() is None
            assert updates == [] and label.display
            ticket.query_one("#amount", Input).value = "1"
            await pilot.pause()
            ticket.current()
            assert updates[-1] == "" and not label.display

    asyncio.run(scenario())
