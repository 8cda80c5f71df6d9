"""Shared by the TUI Pilot tests: a seeded SQLite file (conftest's `database`), the real
app, a login through the real login screen, and readers of what screens show."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import re
from pathlib import Path
from typing import Any, TypeVar

from textual import events
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from energy_tui.config import Settings, load_settings
from energy_tui.db import migrations
from energy_tui.db.models import db
from energy_tui.db.urls import DatabaseURL
from energy_tui.runtime import bind
from energy_tui.services import prosumers, users
from energy_tui.services.context import Actor
from energy_tui.tui.app import EnergyApp, make_app
from energy_tui.tui.screens.login import LoginScreen
from energy_tui.tui.widgets.tables import Table
from tests.backends import migrated_sqlite_file

SIZE = (120, 36)
# username: (password, role, prosumer); short passwords: Pilot types each key
PEOPLE = {
    "admin": ("adm-pass1", "admin", None),
    "operator": ("opr-pass1", "operator", None),
    "viewer": ("vwr-pass1", "viewer", None),
    "alice": ("ali-pass1", "trader", "home-01"),
    "bob": ("bob-pass1", "trader", "home-02"),
}
SEEDER = Actor(label="test:seed", role="admin")
S = TypeVar("S", bound=Screen[Any])


def seeded_database(tmp_path: Path) -> tuple[Settings, DatabaseURL]:
    """A migrated SQLite file with two prosumers and one user of each role."""
    settings = load_settings(db=f"sqlite://{migrated_sqlite_file(tmp_path / 'tui.db')}")
    runtime = bind(settings)
    with runtime.database.connection_context():
        migrations.migrate(runtime.database)
        _seed(settings.bcrypt_rounds)
    return settings, runtime.url


def _seed(rounds: int) -> None:
    prosumers.add_prosumer(SEEDER, "home-01", "Rooftop, 3 Elm Street", "residential")
    prosumers.add_prosumer(SEEDER, "home-02", "Corner Bakery", "commercial")
    prosumers.deposit(SEEDER, "home-01", "500")
    prosumers.add_meter_reading(SEEDER, "home-01", "12.5", "2")
    for name, (password, role, address) in PEOPLE.items():
        users.add_user(
            SEEDER,
            name,
            f"{name}@example.org",
            password,
            rounds=rounds,
            role=role,
            prosumer_address=address,
        )


def sync(test):
    """Run an async Pilot test with asyncio (no pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return run


def app_for(settings: Settings, url: DatabaseURL) -> EnergyApp:
    return make_app(settings, url)


async def settle(pilot: Pilot) -> None:
    """Let every worker finish and its results reach the screen."""
    for _ in range(3):
        # a failed or cancelled worker is the app's to handle; tests assert on what it shows
        with contextlib.suppress(WorkerFailed, WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def login(
    pilot: Pilot, username: str, password: str | None = None, *, typed: bool = True
) -> None:
    """Log in through the login screen, typing as a user would; with `typed=False` the
    fields are filled at once (Pilot takes a tenth of a second a key)."""
    for _ in range(200):
        if isinstance(pilot.app.screen, LoginScreen):
            break
        await pilot.pause(0.02)
    screen = pilot.app.screen
    assert isinstance(screen, LoginScreen)
    password = password or PEOPLE[username][0]
    if typed:
        await type_text(pilot, username)
        await pilot.press("enter")
        await type_text(pilot, password)
    else:
        await pilot.pause()  # its on_mount focuses the username field
        screen.query_one("#username", Input).value = username
        screen.query_one("#password", Input).value = password
        screen.query_one("#password", Input).focus()
    await pilot.press("enter")
    await settle(pilot)
    assert not isinstance(pilot.app.screen, LoginScreen), "login failed"


async def burst(pilot: Pilot, *keys: str) -> None:
    """Send `keys` at once, as a terminal does with keys that arrive faster than the app
    reads them (a paste of keystrokes, `tmux send-keys`), then let them all apply.
    Pilot's `press` waits after each key, so it never shows an ordering problem."""
    for key in keys:
        pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
    await settle(pilot)


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)


async def clear_and_type(pilot: Pilot, text: str) -> None:
    """Replace what the focused input holds."""
    await pilot.press("ctrl+a", "ctrl+k")
    await type_text(pilot, text)


async def open_screen(pilot: Pilot, username: str, key: str, screen_type: type[S]) -> S:
    """Log in as `username`, press `key` (F2-F6) and return the screen it opens."""
    await login(pilot, username)
    return await switch_to(pilot, key, screen_type)


async def switch_to(pilot: Pilot, key: str, screen_type: type[S]) -> S:
    """Press `key` (F1-F6) and return the screen it opens, loaded."""
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, screen_type)
    return pilot.app.screen


def field_error(form: Screen[Any], name: str) -> str:
    """The inline message under field `name` of a form, "" when none is shown."""
    error = form.query_one(f"#{name}-error", Static)
    return str(error.content) if error.display else ""


def table_rows(table: Table) -> list[list[str]]:
    """Every row of `table` as the text of its cells."""
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def screen_text(app: EnergyApp) -> str:
    """What the terminal shows, as text (from the exported screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def in_db(fn, *args, **kwargs):
    """Call a service from the test (not the UI thread of the app under test)."""
    with db.connection_context():
        return fn(*args, **kwargs)


SELLER = Actor(label="test:seller", role="trader", username="seller", prosumer_address="seller")
ALICE = Actor(label="test:alice", role="trader", username="alice", prosumer_address="home-01")


def seller_market(
    tmp_path: Path, seller_orders: tuple[tuple[str, str, str], ...]
) -> tuple[Settings, DatabaseURL]:
    """The seeded people plus a seller ("Solar barn": 100 kWh, 100 WATT) whose
    (side, kWh, price) orders rest, then alice's buy of 2.5 kWh at 0.1500 (home-01)."""
    from energy_tui.services.market import order_request, place_order

    settings, url = seeded_database(tmp_path)
    with bind(settings).database.connection_context():
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn", "residential")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        prosumers.deposit(SEEDER, "seller", "100")
        for side, amount, price in seller_orders:
            place_order(SELLER, order_request(side, amount, price))
        place_order(ALICE, order_request("buy", "2.5", "0.1500"))
    return settings, url
