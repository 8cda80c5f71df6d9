"""The admin screen (F6): tabs by role, users, prosumers (deposit, withdraw, meter
reading) and the audit log; every write audited as the logged-in user."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from textual.widgets import Input, Select, Static, TabbedContent

from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.runtime import bind
from energy_tui.services import audit, prosumers, users
from energy_tui.services.market import rules as market_rules
from energy_tui.tui.screens.admin import AdminScreen, AuditPane
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.audit_entry import AuditEntryScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.form import FormModal
from energy_tui.tui.widgets.tables import Table
from tests.tui_identity_support import (
    PEOPLE,
    SEEDER,
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


async def open_admin(pilot, username: str, tab: str | None = None) -> AdminScreen:
    screen = await open_screen(pilot, username, "f6", AdminScreen)
    if tab is not None:
        await pilot.press(tab)
        await settle(pilot)
    return screen


async def select_row(pilot, table: Table, key: str) -> None:
    """Move the cursor with j, as a user would, until it is on `key`."""
    table.focus()
    target = table.get_row_index(key)
    while table.cursor_row != target:
        await pilot.press("j" if table.cursor_row < target else "k")
    assert table.selected_key() == key


def tab_ids(screen: AdminScreen) -> list[str]:
    return [pane.id or "" for pane in screen.query_one(TabbedContent).query("TabPane")]


def test_trader_has_no_admin_screen_and_f6_says_which_roles_it_needs(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await login(pilot, "alice")
            assert "admin" not in [m.name for m in app.modes_for_user()]
            before = len(app._notifications)
            await pilot.press("f6")
            await settle(pilot)
            assert isinstance(app.screen, OrderBookScreen)
            assert app.current_mode == "book"
            said = [n.message for n in app._notifications][before:]
            assert said == [
                "The Admin screen (F6) needs the operator or admin role; "
                "you are logged in as trader."
            ]

    asyncio.run(scenario())


def test_viewer_has_no_admin_mode(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await login(pilot, "viewer")
            assert [m.name for m in app.modes_for_user()][-1] != "admin"
            await pilot.press("f6")
            await settle(pilot)
            assert not isinstance(app.screen, AdminScreen)

    asyncio.run(scenario())


def test_operator_gets_prosumers_and_audit_but_no_users_tab(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            assert tab_ids(screen) == ["tab-prosumers", "tab-audit"]
            assert screen.check_action("tab", ("tab-users",)) is False
            await pilot.press("u")
            assert screen.query_one(TabbedContent).active == "tab-prosumers"

    asyncio.run(scenario())


def test_admin_adds_a_user_audited_as_the_admin(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin")
            assert tab_ids(screen) == ["tab-users", "tab-prosumers", "tab-audit", "tab-rules"]
            await pilot.press("a")
            await settle(pilot)
            assert isinstance(app.screen, FormModal)
            for text in ("dave", "dave@example.org"):
                await type_text(pilot, text)
                await pilot.press("tab")
            await pilot.press("tab")  # keep the role: trader
            app.screen.query_one("#prosumer", Select).value = "home-02"  # picked from the list
            for _ in range(2):
                await pilot.press("tab")
                await type_text(pilot, "dave-password-1")
            await pilot.press("enter")
            await settle(pilot)

            assert app.screen is screen
            assert screen.query_one("#users", Table).selected_key() == "dave"
            dave = next(u for u in in_db(users.list_users) if u.username == "dave")
            assert (dave.role, dave.prosumer_address, dave.is_active) == ("trader", "home-02", True)
            created = in_db(audit.entries, event_type="user_created", limit=1)[0]
            assert created.username == "admin" and created.data["target"] == "dave"

    asyncio.run(scenario())


def test_add_user_with_differing_passwords_says_so_inline(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_admin(pilot, "admin")
            await pilot.press("a")
            await settle(pilot)
            form = app.screen
            form.query_one("#username", Input).value = "erin"
            form.query_one("#email", Input).value = "erin@example.org"
            form.query_one("#password", Input).value = "erin-password-1"
            form.query_one("#again", Input).value = "erin-password-2"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert field_error(form, "again") == "the two passwords differ"
            assert "erin" not in [u.username for u in in_db(users.list_users)]

    asyncio.run(scenario())


def test_admin_changes_a_role_and_disables_after_confirmation(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin")
            table = screen.query_one("#users", Table)
            await select_row(pilot, table, "bob")
            await pilot.press("e")
            await settle(pilot)
            form = app.screen
            assert isinstance(form, FormModal)
            steps = users.ROLES.index("viewer") - users.ROLES.index("trader")
            await pilot.press("enter", *["down"] * steps, "enter", "ctrl+s")
            await settle(pilot)
            assert in_db(users.get, "bob").role == "viewer"

            await select_row(pilot, table, "bob")
            await pilot.press("d")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await settle(pilot)
            assert not in_db(users.get, "bob").is_active
            assert "disabled" in [str(c) for c in table.get_row("bob")]

    asyncio.run(scenario())


def test_admin_adds_a_prosumer(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="p")
            await pilot.press("a")
            await settle(pilot)
            await type_text(pilot, "home-03")
            await pilot.press("enter")
            await type_text(pilot, "Terrace, 12 Quay Road")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is screen
            assert screen.query_one("#prosumers", Table).selected_key() == "home-03"
            row = in_db(prosumers.balances, "home-03")
            assert (row.name, row.kind, row.watt_total) == (
                "Terrace, 12 Quay Road",
                "residential",
                Decimal("0.00"),
            )

    asyncio.run(scenario())


def test_deposit_shows_the_new_balance(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            table = screen.query_one("#prosumers", Table)
            await select_row(pilot, table, "home-01")
            await pilot.press("d")
            await settle(pilot)
            await type_text(pilot, "250.50")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("y")
            await settle(pilot)
            assert app.screen is screen
            assert "750.50" in [str(c) for c in table.get_row("home-01")]
            assert in_db(prosumers.balances, "home-01").watt_total == Decimal("750.50")
            entry = in_db(audit.entries, event_type="deposit", limit=1)[0]
            assert entry.username == "operator" and entry.data["amount"] == "250.50"

    asyncio.run(scenario())


def test_bad_deposit_shows_the_reason_inline_and_writes_nothing(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            await select_row(pilot, screen.query_one("#prosumers", Table), "home-01")
            deposits = len(in_db(audit.entries, event_type="deposit"))
            await pilot.press("d")
            await settle(pilot)
            form = app.screen
            await type_text(pilot, "1.234")
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is form
            assert "amount has more than 2 decimals" in field_error(form, "amount")
            assert "amount has more than 2 decimals" in screen_text(app)
            assert in_db(prosumers.balances, "home-01").watt_total == Decimal("500.00")
            assert len(in_db(audit.entries, event_type="deposit")) == deposits

    asyncio.run(scenario())


def test_withdrawing_more_than_available_is_refused_inline(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            await select_row(pilot, screen.query_one("#prosumers", Table), "home-01")
            await pilot.press("w")
            await settle(pilot)
            form = app.screen
            await type_text(pilot, "600")
            await pilot.press("enter", "y")
            await settle(pilot)
            assert app.screen is form
            assert "only 500.00 WATT available" in field_error(form, "amount")
            assert in_db(prosumers.balances, "home-01").watt_total == Decimal("500.00")

    asyncio.run(scenario())


def test_meter_reading_adds_to_the_credits(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            await select_row(pilot, screen.query_one("#prosumers", Table), "home-01")
            await pilot.press("m")
            await settle(pilot)
            await pilot.press("ctrl+a", "ctrl+k")
            await type_text(pilot, "4.25")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is screen
            assert in_db(prosumers.balances, "home-01").energy_credits == Decimal("14.75")

    asyncio.run(scenario())


def test_audit_filters_narrow_the_rows(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator", tab="l")
            table = screen.query_one("#audit", Table)
            everything = table.row_count
            assert everything >= 8

            await pilot.click("#audit-user")
            await type_text(pilot, "operator")
            await pilot.press("enter")
            await settle(pilot)
            assert 0 < table.row_count < everything
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            # by the operator, or about them (the seeder created their account)
            assert all(str(r[2]) == "operator" or "target=operator" in r[6] for r in rows)

            await pilot.click("#audit-since")
            await type_text(pilot, "yesterday")
            await pilot.press("enter")
            await settle(pilot)
            error = screen.query_one("#audit-error", Static)
            assert error.display and "since 'yesterday' is not understood" in str(error.content)
            assert screen.query_one("#audit-since", Input).has_class("-invalid")

            await pilot.press("escape")
            screen.query_one("#audit", Table).focus()
            await pilot.press("c")
            await settle(pilot)
            assert table.row_count == everything
            assert not error.display

    asyncio.run(scenario())


def test_audit_event_filter_shows_only_that_event(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="l")
            table = screen.query_one("#audit", Table)
            await pilot.press("f", "enter")  # focus the event filter and open it
            # the blank choice ("any") comes first
            await pilot.press(*["down"] * (audit.EVENT_TYPES.index("deposit") + 1), "enter")
            await settle(pilot)
            assert table.row_count == 1
            assert str(table.get_row_at(0)[1]) == "deposit"

    asyncio.run(scenario())


def test_admin_edits_a_market_rule_in_the_rules_tab_refused_first_then_audited(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", "t")
            table = screen.query_one("#rules", Table)
            assert [str(c) for c in table.get_row("GRID_FEE_RATE")][:2] == [
                "GRID_FEE_RATE",
                "0.0500",
            ]
            await select_row(pilot, table, "GRID_FEE_RATE")
            await pilot.press("e")
            await settle(pilot)
            form = app.screen
            assert isinstance(form, FormModal)
            await clear_and_type(pilot, "1.5")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "GRID_FEE_RATE is too large" in field_error(form, "value")
            assert in_db(market_rules.current).fee_rate == Decimal("0.0500")  # nothing written

            await clear_and_type(pilot, "0.03")
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert not isinstance(app.screen, FormModal)
            assert in_db(market_rules.current).fee_rate == Decimal("0.0300")
            assert [str(c) for c in table.get_row("GRID_FEE_RATE")][1] == "0.0300"
            (entry,) = in_db(audit.entries, event_type="market_rule_changed")
            assert (entry.username, entry.data["old"], entry.data["new"]) == (
                "admin",
                "0.0500",
                "0.0300",
            )
            app.read_market_version()  # the next poll: the rule moved the market's marker
            await settle(pilot)
            assert app.rules.fee_rate == Decimal("0.0300")

    asyncio.run(scenario())


def empty_note(screen: AdminScreen, selector: str) -> str:
    note = screen.query_one(selector, Static)
    return str(note.content) if note.display else ""


def test_add_user_offers_the_existing_prosumers_and_names_the_tab_that_adds_one(
    database,
) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            await open_admin(pilot, "admin")
            await pilot.press("a")
            await settle(pilot)
            form = app.screen
            assert isinstance(form, FormModal)
            picker = form.query_one("#prosumer", Select)
            assert [value for _, value in picker._options] == ["(none)", "home-01", "home-02"]
            assert picker.value == "(none)"
            hint = str(form.query_one(".form-hint", Static).content)
            assert "Add the prosumer first: p (Prosumers tab), then a." in hint
            assert "prosumer add" not in screen_text(app)  # no CLI command in the form

            form.query_one("#username", Input).value = "erin"
            form.query_one("#email", Input).value = "erin@example.org"
            form.query_one("#password", Input).value = "erin-password-1"
            form.query_one("#again", Input).value = "erin-password-1"
            await pilot.press("ctrl+s")
            await settle(pilot)
            erin = next(u for u in in_db(users.list_users) if u.username == "erin")
            assert erin.prosumer_address is None  # "(none)" is no prosumer

    asyncio.run(scenario())


def test_operator_has_no_market_rules_tab(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "operator")
            assert "tab-rules" not in tab_ids(screen)
            await pilot.press("t")
            await settle(pilot)
            assert screen.query_one(TabbedContent).active != "tab-rules"

    asyncio.run(scenario())


def admin_only(tmp_path: Path):
    """A database with one administrator and nothing else: no prosumers."""
    settings = load_settings(db=f"sqlite://{tmp_path / 'bare.db'}")
    runtime = bind(settings)
    with runtime.database.connection_context():
        migrations.migrate(runtime.database)
        password, role, _ = PEOPLE["admin"]
        users.add_user(SEEDER, "admin", "admin@example.org", password, rounds=4, role=role)
    return settings, runtime.url


def test_no_prosumers_yet_says_to_add_the_first_with_a(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = app_for(*admin_only(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="p")
            note = "No prosumers yet: add the first with a."
            assert empty_note(screen, "#prosumers-empty") == note
            assert note in screen_text(app)

    asyncio.run(scenario())


async def filter_user(pilot, screen: AdminScreen, name: str) -> None:
    await pilot.click("#audit-user")
    await type_text(pilot, name)
    await pilot.press("enter")
    await settle(pilot)


def test_audit_user_filter_finds_what_was_done_to_the_user_too(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="l")
            await filter_user(pilot, screen, "alice")
            table = screen.query_one("#audit", Table)
            events = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
            # created by the seeder (not by alice): found because it names her
            assert "user_created" in events
            assert all(
                e.username == "alice" or "alice" in e.data.values()
                for e in screen.query_one(AuditPane).listed.values()
            )

    asyncio.run(scenario())


def test_audit_filter_matching_nothing_says_how_to_clear_it(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="l")
            assert empty_note(screen, "#audit-empty") == ""
            await filter_user(pilot, screen, "nobody-here")
            assert screen.query_one("#audit", Table).row_count == 0
            note = (
                "No audit entries match these filters: clear them with c (or change them with f)."
            )
            assert empty_note(screen, "#audit-empty") == note
            assert note in screen_text(app)

    asyncio.run(scenario())


def test_escape_leaves_the_audit_filters_for_the_table(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="l")
            await pilot.click("#audit-user")
            assert app.focused is screen.query_one("#audit-user", Input)
            await pilot.press("escape")
            assert app.focused is screen.query_one("#audit", Table)
            await pilot.press("f")
            assert app.focused is screen.query_one("#audit-event", Select)
            await pilot.press("escape")
            assert app.focused is screen.query_one("#audit", Table)

    asyncio.run(scenario())


def test_enter_on_an_audit_row_shows_the_whole_entry(database) -> None:
    async def scenario() -> None:
        app = app_for(*database)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_admin(pilot, "admin", tab="l")
            table = screen.query_one("#audit", Table)
            logged = in_db(audit.entries, event_type="user_created")
            created = next(e for e in logged if e.data["target"] == "bob")
            await select_row(pilot, table, str(created.id))
            await pilot.press("enter")
            await settle(pilot)
            shown = app.screen
            assert isinstance(shown, AuditEntryScreen) and shown.entry == created
            text = screen_text(app)
            for value in ("user_created", "test:seed", '"target": "bob"', '"prosumer": "home-02"'):
                assert value in text
            await pilot.press("escape")
            assert app.screen is screen

    asyncio.run(scenario())
