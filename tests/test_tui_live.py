"""Live updates on PostgreSQL: another terminal's order reaches the order book through
the market's change notification (LISTEN/NOTIFY), not the poll; with the listener gone,
the poll still brings it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.runtime import bind
from energy_tui.services import prosumers
from energy_tui.services.market import order_request, place_order
from energy_tui.tui import app as tui_app
from energy_tui.tui.app import make_app
from energy_tui.tui.widgets.ladder import PriceLadder
from tests import backends
from tests.test_tui_order_book import SELLER, _wait_for
from tests.tui_identity_support import SEEDER, SIZE, _seed, in_db, login, sync


@pytest.fixture
def pg_market() -> Iterator[tuple[object, object]]:
    """The TUI tests' seeded market (users, a seller with an ask) on a PostgreSQL
    database of this test's own."""
    base = backends.server_url_or_skip("postgres")
    name = f"energy_tui_live_{os.getpid()}"
    url = backends.create_private_database(base, name)
    settings = load_settings(db=url)
    runtime = bind(settings)
    with runtime.database.connection_context():
        migrations.migrate(runtime.database)
        _seed(settings.bcrypt_rounds)
        prosumers.add_prosumer(SEEDER, "seller", "Solar barn", "residential")
        prosumers.add_meter_reading(SEEDER, "seller", "100")
        place_order(SELLER, order_request("sell", "5", "0.2000"))
    yield settings, runtime.url
    runtime.database.close_all()
    backends.drop_private_database(base, name)


async def _listening(pilot, app) -> None:
    await _wait_for(
        pilot, lambda: app.change_listener is not None and app.change_listener.connected
    )


@sync
async def test_another_terminals_order_arrives_by_notification_not_by_the_poll(
    pg_market, monkeypatch
) -> None:
    monkeypatch.setattr(tui_app, "POLL_SECONDS", 3600.0)  # no poll during the test
    app = make_app(*pg_market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        await _listening(pilot, app)
        ladder = app.screen.query_one(PriceLadder)
        levels_before, heard = len(ladder.levels), app.market_notifications
        in_db(place_order, SELLER, order_request("sell", "1", "0.2100"))
        await _wait_for(pilot, lambda: len(ladder.levels) == levels_before + 1)
        assert app.market_notifications > heard


@sync
async def test_with_the_listener_closed_the_poll_still_brings_changes(
    pg_market, monkeypatch
) -> None:
    monkeypatch.setattr(tui_app, "POLL_SECONDS", 0.2)
    app = make_app(*pg_market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        await _listening(pilot, app)
        assert app.change_listener is not None
        app.change_listener.close()
        ladder = app.screen.query_one(PriceLadder)
        levels_before, heard = len(ladder.levels), app.market_notifications
        in_db(place_order, SELLER, order_request("sell", "1", "0.2100"))
        await _wait_for(pilot, lambda: len(ladder.levels) == levels_before + 1)
        assert app.market_notifications == heard
