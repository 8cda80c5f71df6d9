"""Snapshot tests of every top-level screen, the login screen and the help modal.

One fixed dataset (the screenshot module's: the demo community seeded with a fixed
seed as of a fixed moment), seeded once per session and copied for each test; the
terminal is 120x36, the clock frozen, ids and key secrets fixed. `pytest
tests/test_snapshots.py --snapshot-update` rewrites the pictures after a deliberate
change; look at them (the failure report shows both) before committing.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from energy_tui import clock
from energy_tui.cli import demo_cmd
from energy_tui.db.models import db
from energy_tui.runtime import bind
from energy_tui.services import demo, users
from energy_tui.tui import screenshots
from energy_tui.tui.app import EnergyApp, make_app
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.my_orders import MyOrders
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from tests.tui_identity_support import login, seeded_database

SIZE = screenshots.SIZE
Visit = Callable[[Pilot], Awaitable[None]]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded SQLite file, built once (seeding takes a few seconds)."""
    return screenshots.build_dataset(tmp_path_factory.mktemp("snapshot-data"))


@pytest.fixture
def frozen() -> Iterator[None]:
    """The moment of the dataset, and fixed ids and key secrets, while the app runs."""
    with clock.frozen(screenshots.NOW), screenshots.deterministic(screenshots.SEED + 100):
        yield


@pytest.fixture
def app_on_copy(dataset: Path, tmp_path: Path, frozen: None) -> Iterator[EnergyApp]:
    """The real app on this test's own copy of the dataset."""
    copy = tmp_path / dataset.name
    shutil.copyfile(dataset, copy)
    app, runtime = screenshots.app_on(copy)
    yield app
    runtime.database.close()


def visit(username: str | None, *keys: str) -> Visit:
    """Log in as `username` (or stay at the login screen), press `keys`, and wait until
    the screen has loaded its data and is still."""

    async def run_before(pilot: Pilot) -> None:
        if username is not None:
            await screenshots.log_in(pilot, username)
        for key in keys:
            await pilot.press(key)
        await screenshots.still(pilot)

    return run_before


def test_first_run_offers_to_create_the_first_admin(
    snap_compare, tmp_path: Path, frozen: None
) -> None:
    app, runtime = screenshots.app_on(screenshots.empty_database(tmp_path))
    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=visit(None))
    finally:
        runtime.database.close()


def test_login_screen_asks_for_username_and_password(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit(None))


def test_demo_login_screen_lists_the_demo_users(
    snap_compare, dataset: Path, tmp_path: Path, frozen: None
) -> None:
    copy = tmp_path / dataset.name
    shutil.copyfile(dataset, copy)
    runtime = bind(screenshots.settings_for(copy))
    app = make_app(runtime.settings, runtime.url, login_hint=demo_cmd.hint(list(demo.USERS)))
    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=visit(None))
    finally:
        runtime.database.close()


def test_order_book_shows_ladder_ticket_tape_and_my_orders(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("alice"))


def test_order_book_fits_an_80x24_terminal(snap_compare, app_on_copy) -> None:
    """Compact: ticket and preview whole, depth bars narrower, no tape."""

    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await screenshots.book_with_ticket(pilot)
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=screenshots.SMALL, run_before=run_before)


def test_order_book_at_200x50_gives_the_room_to_depth_and_a_chart_of_today(
    snap_compare, app_on_copy
) -> None:
    """The ladder deeper with wider bars, today's chart beside the tape, the ticket
    holding a buy taken from the ladder."""

    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await screenshots.book_with_ticket(pilot)
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=screenshots.WIDE, run_before=run_before)


def test_order_book_of_a_viewer_has_no_ticket_and_no_orders(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("viewer"))


def test_help_lists_the_keys_of_the_screen_below(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        # the login's toast cleared before the modal opens: whether it showed on the
        # modal depended on timing (it did under load)
        await visit("alice")(pilot)
        await pilot.press("question_mark")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_trades_screen_lists_market_trades_newest_first(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("alice", "f2"))


def test_statistics_screen_shows_daily_table_and_charts(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("alice", "f3"))


def test_account_screen_shows_balances_readings_and_sessions(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("alice", "f4"))


def test_keys_screen_lists_my_keys_by_prefix(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("alice", "f5"))


@pytest.mark.parametrize(
    "tab", ["u", "p", "l", "t"], ids=["users", "prosumers", "audit", "market-rules"]
)
def test_admin_screen_shows_users_prosumers_and_audit_tabs(
    snap_compare, app_on_copy, tab: str
) -> None:
    run_before = visit("admin", "f6", tab)
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_order_book_asks_before_placing_an_order_far_from_the_market(
    snap_compare, app_on_copy
) -> None:
    """The fat-finger guard: the order, its full cost and why it asks; Go back focused."""

    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await pilot.press("b", *"5", "tab", *"2.5000")
        await screenshots.still(pilot)  # the preview behind the question, computed
        await pilot.press("enter")

        def asking() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, ConfirmOrder) and screen.focused is not None

        await screenshots.wait_for(pilot, asking, "the guard's question")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_order_book_ticket_previews_a_market_buy_walk_and_worst_price(
    snap_compare, app_on_copy
) -> None:
    """F10 steps to a market order: the price is an optional cap, the preview walks."""

    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await pilot.press("b", *"30", "f10", "f10", "f10")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_order_book_amends_an_open_order_in_the_ticket_at_80x24(snap_compare, app_on_copy) -> None:
    """`a` on an open order: the ticket holds it, says whether it keeps its place."""

    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await pilot.press("o", "a", "shift+tab", "ctrl+a", "ctrl+k", *"3")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=screenshots.SMALL, run_before=run_before)


def test_cancel_all_asks_with_the_count_and_what_it_releases(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        await screenshots.log_in(pilot, "alice")
        await pilot.press("x")
        await screenshots.wait_for(pilot, lambda: isinstance(pilot.app.screen, Confirm), "it")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_my_order_history_lists_status_average_price_and_why(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        # the history loads in a worker after `h`: wait for its rows, or the picture may
        # catch the table before its columns took their widths (it did in a CI run)
        await screenshots.log_in(pilot, "alice")
        await pilot.press("h")
        mine = pilot.app.screen.query_one(MyOrders)
        await screenshots.wait_for(pilot, lambda: bool(mine.history), "the history")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


# --- empty states: what is empty and what to do next ----------------------------------


def test_keys_screen_without_keys_says_to_create_one_with_n(snap_compare, app_on_copy) -> None:
    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=visit("carol", "f5"))


def test_audit_filter_matching_nothing_says_how_to_clear_it(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        await visit("admin", "f6", "l")(pilot)
        await pilot.click("#audit-user")
        await pilot.press(*"nobody", "enter", "escape")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_an_empty_order_book_says_what_to_do_first(
    snap_compare, tmp_path: Path, frozen: None
) -> None:
    settings, url = seeded_database(tmp_path)  # users and prosumers, no orders yet
    app = make_app(settings, url)

    async def run_before(pilot: Pilot) -> None:
        await login(pilot, "alice", typed=False)
        await screenshots.still(pilot)

    try:
        assert snap_compare(app, terminal_size=screenshots.SMALL, run_before=run_before)
    finally:
        db.close()


def test_deposit_asks_with_amount_and_prosumer_and_no_focused(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        await visit("admin", "f6", "p")(pilot)  # the login's toast cleared here, first
        await pilot.press("d", "5", "enter")

        def asking() -> bool:  # the question comes after a worker reads the balance
            screen = pilot.app.screen
            return isinstance(screen, Confirm) and screen.focused is not None

        await screenshots.wait_for(pilot, asking, "the deposit's question")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_prosumers_tab_without_prosumers_says_to_add_the_first(
    snap_compare, tmp_path: Path, frozen: None
) -> None:
    path = screenshots.empty_database(tmp_path)
    app, runtime = screenshots.app_on(path)
    with runtime.database.connection_context():
        users.create_first_admin(
            "admin", "admin@demo.energy", screenshots.PASSWORDS["admin"], rounds=4
        )
    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=visit("admin", "f6", "p"))
    finally:
        runtime.database.close()


def test_price_alerts_dialog_lists_waiting_and_fired_alerts(snap_compare, app_on_copy) -> None:
    async def run_before(pilot: Pilot) -> None:
        await visit("alice")(pilot)  # the login's toast cleared before the dialog opens
        await pilot.press("f9")
        await screenshots.still(pilot)

    assert snap_compare(app_on_copy, terminal_size=SIZE, run_before=run_before)


def test_every_snapshot_picture_belongs_to_a_snapshot_test(request: pytest.FixtureRequest) -> None:
    """A picture no test compares against (a test renamed or removed) fails the run.
    syrupy checks this itself, but not under pytest-xdist (each worker sees only its
    share of the tests), which the suite runs with: the same check, on this module's
    tests whichever of them this run selected."""
    module = request.node.parent
    assert isinstance(module, pytest.Module)
    tests = {
        item.name
        for item in module.collect()
        if isinstance(item, pytest.Function) and "snap_compare" in item.fixturenames
    }
    pictures = {path.stem for path in (Path(__file__).parent / "__snapshots__").glob("*/*.svg")}
    assert len(tests) > 20
    assert pictures - tests == set()
