"""The API keys screen (F5): create (shown once), revoke, role-based hiding."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Checkbox, Static

from energy_tui.errors import AuthError
from energy_tui.services import audit, keys
from energy_tui.services.auth import actor_for_user
from energy_tui.services.users import get
from energy_tui.tui.screens.keys import KeyReveal, KeysScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import (
    SIZE,
    app_for,
    clear_and_type,
    in_db,
    open_screen,
    screen_text,
    settle,
    table_rows,
    type_text,
)


async def open_keys(pilot, username: str) -> KeysScreen:
    return await open_screen(pilot, username, "f5", KeysScreen)


async def ask_to_revoke(pilot, username: str, key_id) -> Confirm:
    """Open the keys screen as `username`, select the key `key_id` and press x: the
    confirmation it asks."""
    screen = await open_keys(pilot, username)
    table = screen.query_one("#keys", Table)
    table.move_cursor(row=table.get_row_index(str(key_id)))
    await pilot.press("x")
    await settle(pilot)
    assert isinstance(pilot.app.screen, Confirm)
    return pilot.app.screen


async def create_key(pilot, name: str, expiry: str | None = None) -> None:
    await pilot.press("n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, FormModal)
    await type_text(pilot, name)
    if expiry is not None:
        pilot.app.screen.query_one("#expiry").focus()
        await clear_and_type(pilot, expiry)
    await pilot.press("ctrl+s")
    await settle(pilot)


def test_created_key_is_shown_once_then_only_its_prefix(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_keys(pilot, "alice")
            await create_key(pilot, "home battery")
            reveal = app.screen
            assert isinstance(reveal, KeyReveal)
            secret = str(reveal.query_one("#secret", Static).content)
            prefix = secret[:12]
            assert secret.startswith("etk_") and len(secret) == 56
            assert secret in screen_text(app)
            assert "will not be shown again" in screen_text(app)

            await pilot.press("c")
            assert app.clipboard == secret
            await pilot.press("enter")
            await settle(pilot)

            assert isinstance(app.screen, KeysScreen)
            shown = screen_text(app)
            assert prefix in shown
            assert secret not in shown and secret[13:] not in shown
            assert app.clipboard == ""  # the app's own copy is forgotten
            assert not any(isinstance(s, KeyReveal) for s in app.screen_stack)
            listed = in_db(keys.list_keys, actor_for_user(in_db(get, "alice"), None))
            assert [(k.prefix, k.name, k.status) for k in listed] == [
                (prefix, "home battery", "active")
            ]
            assert in_db(keys.verify, secret).username == "alice"
            logged = in_db(audit.entries, event_type="api_key_generated")
            assert secret[13:] not in str(logged)

    asyncio.run(scenario())


def test_revoke_asks_first_then_marks_the_key_revoked(database) -> None:
    alice = actor_for_user(in_db(get, "alice"), None)
    created = in_db(keys.create_key, alice, "alice", "old script", ["read"])

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_keys(pilot, "alice")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")  # changed my mind: nothing happens
            await settle(pilot)
            assert in_db(keys.list_keys, alice)[0].status == "active"

            await pilot.press("x")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert app.screen is screen
            rows = table_rows(screen.query_one("#keys", Table))
            assert rows[0][0] == created.info.prefix
            assert "revoked" in rows[0]
            assert in_db(keys.list_keys, alice)[0].status == "revoked"

    asyncio.run(scenario())


def test_bad_expiry_is_shown_under_its_field_and_creates_nothing(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_keys(pilot, "alice")
            await create_key(pilot, "nightly", expiry="someday")
            form = app.screen
            assert isinstance(form, FormModal)
            error = str(form.query_one("#expiry-error", Static).content)
            assert "expiry 'someday' is not understood" in error
            assert form.query_one("#expiry-error").display
            alice = actor_for_user(in_db(get, "alice"), None)
            assert in_db(keys.list_keys, alice) == []

    asyncio.run(scenario())


def test_trader_may_give_a_key_only_read_and_trade(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_keys(pilot, "alice")
            await pilot.press("n")
            await settle(pilot)
            boxes = [str(box.label) for box in app.screen.query(Checkbox)]
            assert boxes == ["read", "trade"]
            assert not app.screen.query("#owner")  # only for herself

    asyncio.run(scenario())


def test_viewer_sees_own_keys_without_create_or_revoke(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_keys(pilot, "viewer")
            assert screen.check_action("create", ()) is False
            assert screen.check_action("revoke", ()) is False
            footer = {b.binding.action for b in screen.active_bindings.values() if b.enabled}
            assert "create" not in footer and "revoke" not in footer
            await pilot.press("n")
            await settle(pilot)
            assert app.screen is screen
            headers = [str(c.label) for c in screen.query_one("#keys", Table).columns.values()]
            assert "Owner" not in headers

    asyncio.run(scenario())


def test_operator_sees_everyones_keys_and_creates_one_for_a_trader(database) -> None:
    bob = actor_for_user(in_db(get, "bob"), None)
    in_db(keys.create_key, bob, "bob", "bob's bot", ["trade"])

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_keys(pilot, "operator")
            headers = [str(c.label) for c in screen.query_one("#keys", Table).columns.values()]
            assert "Owner" in headers
            assert "bob's bot" in screen_text(app)

            await pilot.press("n")
            await settle(pilot)
            await type_text(pilot, "meter feed")
            app.screen.query_one("#owner").focus()
            await clear_and_type(pilot, "alice")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, KeyReveal)
            assert "for alice" in screen_text(app)
            await pilot.press("escape")
            await settle(pilot)
            rows = table_rows(screen.query_one("#keys", Table))
            assert rows[0][1:3] == ["meter feed", "alice"]

    asyncio.run(scenario())


def test_operator_creating_for_an_unknown_user_sees_it_under_owner(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_keys(pilot, "operator")
            await pilot.press("n")
            await settle(pilot)
            await type_text(pilot, "x")
            app.screen.query_one("#owner").focus()
            await clear_and_type(pilot, "nobody")
            await pilot.press("ctrl+s")
            await settle(pilot)
            error = str(app.screen.query_one("#owner-error", Static).content)
            assert "no user named 'nobody'" in error

    asyncio.run(scenario())


def empty_note(screen, selector: str) -> str:
    note = screen.query_one(selector, Static)
    return str(note.content) if note.display else ""


def test_no_keys_yet_says_to_create_one_with_n_and_goes_once_there_is_one(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_keys(pilot, "alice")
            assert empty_note(screen, "#keys-empty") == "No API keys yet: create one with n."
            assert "No API keys yet: create one with n." in screen_text(app)

            await create_key(pilot, "laptop")
            await pilot.press("enter")  # close the reveal
            await settle(pilot)
            assert empty_note(screen, "#keys-empty") == ""

    asyncio.run(scenario())


def test_a_viewer_without_keys_is_told_who_can_make_one(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_keys(pilot, "viewer")
            assert empty_note(screen, "#keys-empty") == (
                "No API keys yet: an operator or administrator can create one for you."
            )

    asyncio.run(scenario())


def test_revoking_a_key_revokes_the_keys_made_with_it_and_the_notice_says_so(database) -> None:
    operator = actor_for_user(in_db(get, "operator"), None)
    root = in_db(keys.create_key, operator, "operator", "root", ["read", "trade", "manage"])
    child_maker = in_db(keys.verify, root.key)
    child = in_db(keys.create_key, child_maker, "operator", "child", ["read", "trade", "manage"])
    grand = in_db(keys.create_key, in_db(keys.verify, child.key), "alice", "grand", ["read"])
    sibling = in_db(keys.create_key, operator, "alice", "sibling", ["read"])

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            confirm = await ask_to_revoke(pilot, "operator", root.info.id)
            assert "and so do the keys made with it" in confirm.detail
            await pilot.press("y")
            await settle(pilot)
            notices = [str(n.message) for n in app._notifications]
            assert (
                f"revoked API key {root.info.prefix} 'root' of operator and 2 keys made with "
                f"it: {child.info.prefix} 'child' of operator, {grand.info.prefix} 'grand' of "
                "alice." in notices
            )
            status = {k.name: k.status for k in in_db(keys.list_keys, operator)}
            assert status == {
                "root": "revoked",
                "child": "revoked",
                "grand": "revoked",
                "sibling": "active",
            }
            logged = in_db(audit.entries, event_type="api_key_revoked")
            assert len(logged) == 3

    asyncio.run(scenario())
    for made in (child, grand):
        with pytest.raises(AuthError, match="was revoked"):
            in_db(keys.verify, made.key)
    assert in_db(keys.verify, sibling.key).username == "alice"


def test_a_revoked_key_whose_keys_still_work_revokes_them_as_the_cli_does(database) -> None:
    from energy_tui import clock
    from energy_tui.db.models import ApiKey

    operator = actor_for_user(in_db(get, "operator"), None)
    root = in_db(keys.create_key, operator, "operator", "root", ["read", "trade", "manage"])
    child = in_db(keys.create_key, in_db(keys.verify, root.key), "alice", "child", ["read"])

    def revoke_root_alone() -> None:  # as a revocation before it followed the chain did
        ApiKey.update(is_active=False, revoked_at=clock.now()).where(
            ApiKey.id == root.info.id
        ).execute()

    in_db(revoke_root_alone)

    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            confirm = await ask_to_revoke(pilot, "operator", root.info.id)
            assert "1 key(s) made with it still work" in confirm.detail
            await pilot.press("y")
            await settle(pilot)

    asyncio.run(scenario())
    with pytest.raises(AuthError, match="was revoked"):
        in_db(keys.verify, child.key)
