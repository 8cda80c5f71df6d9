"""Shared by the Trades and Statistics Pilot tests: a SQLite file with a few trades at
fixed moments, the real app, and a frozen clock around it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from energy_tui import clock
from energy_tui.config import Settings, load_settings
from energy_tui.db import migrations
from energy_tui.db.urls import DatabaseURL
from energy_tui.runtime import bind
from energy_tui.services import users
from energy_tui.services.market import MarketRules, order_request, place_order
from energy_tui.tui.app import make_app
from tests.backends import migrated_sqlite_file
from tests.market_support import OPERATOR, trader
from tests.tui_identity_support import S, login, switch_to

NOW = dt.datetime(2026, 3, 10, 12, 0)
SIZE = (120, 36)
RULES = MarketRules()  # grid fee 5%, as the test settings have it
PASSWORDS = {"alice": "alice-password-1", "viewer": "viewer-password-1"}
# (when, seller, buyer, kWh, price)
Trade = tuple[dt.datetime, str, str, str, str]
TRADES: tuple[Trade, ...] = (
    (dt.datetime(2026, 3, 1, 9), "alice-home", "bob-home", "1.25", "0.1000"),
    (dt.datetime(2026, 3, 3, 10), "bob-home", "alice-home", "2.50", "0.1234"),
    (dt.datetime(2026, 3, 5, 11), "carol-home", "bob-home", "0.10", "0.3333"),
    (dt.datetime(2026, 3, 7, 12), "alice-home", "carol-home", "3.00", "0.2000"),
)


def seeded_market(tmp_path: Path, trades: Sequence[Trade] = TRADES) -> tuple[Settings, DatabaseURL]:
    """A migrated SQLite file: three prosumers, alice (trader for alice-home), a viewer,
    and `trades`, each made by a resting sell and a buy that fills it."""
    settings = load_settings(db=f"sqlite://{migrated_sqlite_file(tmp_path / 'market.db')}")
    runtime = bind(settings)
    with runtime.database.connection_context(), clock.frozen(dt.datetime(2026, 1, 1)) as frozen:
        migrations.migrate(runtime.database)
        homes = ("alice-home", "bob-home", "carol-home")
        actors = {home: trader(home, watt="100", energy="100") for home in homes}
        _users(settings.bcrypt_rounds)
        for when, seller, buyer, amount, price in trades:
            frozen.set(when)
            place_order(actors[seller], order_request("sell", amount, price))
            place_order(actors[buyer], order_request("buy", amount, price))
    return settings, runtime.url


def _users(rounds: int) -> None:
    for name, role, address in (("alice", "trader", "alice-home"), ("viewer", "viewer", None)):
        users.add_user(
            OPERATOR,
            name,
            f"{name}@example.org",
            PASSWORDS[name],
            rounds=rounds,
            role=role,
            prosumer_address=address,
        )


async def log_in(pilot: Pilot, username: str) -> None:
    """Log in as one of this market's people, the fields filled at once (the login
    tests type for real)."""
    await login(pilot, username, PASSWORDS[username], typed=False)


def play(
    database: tuple[Settings, DatabaseURL],
    user: str,
    key: str,
    screen_type: type[S],
    scenario: Callable[[Pilot, S], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> None:
    """Log in as `user`, open the screen `key` leads to and play `scenario` on it, with
    the clock at NOW."""

    async def main() -> None:
        app = make_app(*database)
        async with app.run_test(size=size) as pilot:
            await log_in(pilot, user)
            await scenario(pilot, await switch_to(pilot, key, screen_type))

    with clock.frozen(NOW):
        asyncio.run(main())


async def fill(pilot: Pilot, value: str) -> None:
    """Replace the focused input's text at once (the change events still fire)."""
    focused = pilot.app.focused
    assert isinstance(focused, Input), focused
    focused.value = value
    await pilot.pause()
