"""Price alerts in the app (issue 12): set in one terminal with F9, fired in both of the
user's terminals (a toast and the bell, once each) when a trade reaches the level."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from energy_tui import clock
from energy_tui.db.models import PriceAlert
from energy_tui.services.market import order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.screens.alerts import AlertsScreen, DirectionToggle
from energy_tui.tui.widgets.tables import Table
from tests.market_support import trader
from tests.tui_identity_support import in_db, settle, table_rows
from tests.tui_market_support import NOW, log_in, seeded_market


def trade_at(price: str) -> None:
    """A trade at `price` by two bots, as another terminal or a script would make it."""
    seller, buyer = trader(f"s{price}", energy="5"), trader(f"b{price}", watt="50")
    place_order(seller, order_request("sell", "1", price))
    place_order(buyer, order_request("buy", "1", price))


def bells(app) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)
    return rung


def alert_toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == "Price alert"]


async def until(pilot: Pilot, condition, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        with contextlib.suppress(Exception):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def set_alert(pilot: Pilot, direction: str, price: str) -> AlertsScreen:
    await pilot.press("f9")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AlertsScreen)
    screen.query_one(DirectionToggle).direction = direction
    screen.query_one("#alert-price", Input).value = price
    await pilot.press("enter")
    await settle(pilot)
    return screen


def test_an_alert_set_in_one_terminal_rings_in_both_when_a_trade_reaches_it(tmp_path: Path):
    market = seeded_market(tmp_path)  # last trade 0.2000

    async def main() -> None:
        first, second = make_app(*market), make_app(*market)
        async with first.run_test(size=(80, 24)) as one, second.run_test(size=(80, 24)) as two:
            rung = {"first": bells(first), "second": bells(second)}
            await log_in(one, "alice")
            await log_in(two, "alice")
            screen = await set_alert(one, "above", "0.25")
            assert table_rows(screen.query_one("#alerts-table", Table))[0][:3] == [
                "▲ above",
                "0.2500",
                "waiting",
            ]
            await asyncio.to_thread(in_db, trade_at, "0.2400")  # not there yet
            await asyncio.sleep(1.5)
            assert rung == {"first": [], "second": []}

            await asyncio.to_thread(in_db, trade_at, "0.2600")
            await until(two, lambda: rung["second"] and rung["first"])
            await asyncio.sleep(2.5)  # later polls ring no more

            assert rung == {"first": [1], "second": [1]}
            expected = ["Traded at 0.2600: at or above your 0.2500"]
            assert alert_toasts(first) == alert_toasts(second) == expected
            await until(one, lambda: "fired 0.2600" in str(table_rows(screen.query_one(Table))))
            assert (
                in_db(lambda: PriceAlert.select().where(PriceAlert.fired_at.is_null(False)).count())
                == 1
            )

    with clock.frozen(NOW):
        asyncio.run(main())


def test_the_alerts_dialog_refuses_a_bad_price_and_removes_the_selected_alert(tmp_path: Path):
    market = seeded_market(tmp_path)

    async def main() -> None:
        app = make_app(*market)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, "alice")
            screen = await set_alert(pilot, "above", "0,25")
            assert "use a point for decimals" in str(
                screen.query_one("#alerts-error", Static).content
            )
            screen = await set_alert(pilot, "below", "0.15")
            rows = table_rows(screen.query_one("#alerts-table", Table))
            assert [row[:3] for row in rows] == [["▼ below", "0.1500", "waiting"]]

            screen.query_one("#alerts-table", Table).focus()
            await pilot.press("delete")
            await settle(pilot)

            assert in_db(PriceAlert.select().count) == 0
            assert screen.query_one("#alerts-empty").display
            await pilot.press("escape")
            assert not isinstance(pilot.app.screen, AlertsScreen)

    with clock.frozen(NOW):
        asyncio.run(main())


def test_a_viewer_sets_alerts_too(tmp_path: Path):
    market = seeded_market(tmp_path)

    async def main() -> None:
        app = make_app(*market)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, "viewer")
            await set_alert(pilot, "above", "0.5")
            assert in_db(PriceAlert.select().count) == 1

    with clock.frozen(NOW):
        asyncio.run(main())
