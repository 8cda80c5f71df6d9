"""Pilot tests of the ladder as a place to trade from: my orders marked on their levels,
a level picked by key or click putting its price in the ticket, the spread centred."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from energy_tui.runtime import bind
from energy_tui.services.market import order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.widgets.ladder import SPREAD, PriceLadder
from energy_tui.tui.widgets.ticket import OrderTicket
from tests.tui_identity_support import (
    ALICE,
    SELLER,
    SIZE,
    in_db,
    login,
    screen_text,
    seller_market,
    settle,
    sync,
)


@pytest.fixture
def market(tmp_path: Path):
    """Asks at 0.2000 and 0.2100 (a seller's), bids at 0.1500 (the seller's and one of
    alice's) and 0.1400 (the seller's): alice trades for home-01."""
    return seller_market(
        tmp_path,
        (
            ("sell", "5", "0.2000"),
            ("sell", "3", "0.2100"),
            ("buy", "1", "0.1500"),
            ("buy", "2", "0.1400"),
        ),
    )


def _ticket(app) -> tuple[str, str, str]:
    """(side, amount, price) as the ticket holds them."""
    ticket = app.screen.query_one(OrderTicket)
    amount, price = (ticket.query_one(f"#{name}", Input).value for name in ("amount", "price"))
    return ticket.side, amount, price


def _row(ladder: PriceLadder, key: str) -> list[str]:
    return [str(cell) for cell in ladder.get_row(key)]


async def _on_ladder(pilot) -> PriceLadder:
    await settle(pilot)
    assert isinstance(pilot.app.screen, OrderBookScreen)
    ladder = pilot.app.screen.query_one(PriceLadder)
    await pilot.press("l")
    assert pilot.app.focused is ladder
    return ladder


@sync
async def test_my_resting_size_is_marked_on_its_level_and_only_there(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        ladder = await _on_ladder(pilot)
        mine = [key.value for key in ladder.columns].index("Mine")
        marks = {key: _row(ladder, key)[mine] for key in ladder.levels}
        assert marks == {
            "ask:0.2000": "",
            "ask:0.2100": "",
            "bid:0.1500": "2.50",
            "bid:0.1400": "",
        }
        assert _row(ladder, "bid:0.1500")[mine + 1] == "3.50"  # the level: mine and the seller's
        # another terminal of alice's adds to the level: the mark follows
        in_db(place_order, ALICE, order_request("buy", "1.25", "0.1400"))
        await settle(pilot)
        for _ in range(40):
            if _row(ladder, "bid:0.1400")[mine]:
                break
            await pilot.pause(0.05)
        assert _row(ladder, "bid:0.1400")[mine] == "1.25"


@sync
async def test_enter_on_an_ask_puts_a_buy_at_its_price_in_the_ticket(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        ladder = await _on_ladder(pilot)
        assert ladder.selected_key() == "ask:0.2000"  # the cursor starts at the best ask
        await pilot.press("k", "enter")  # up to the next ask
        assert _ticket(app) == ("buy", "", "0.2100")
        amount = app.screen.query_one("#amount", Input)
        assert app.focused is amount  # ready to type how much
        await pilot.press("6")  # 5 at 0.2000 and 1 at 0.2100, the limit
        await settle(pilot)
        preview = app.screen.query_one("#preview", Static)
        assert "Fills now 6.00 kWh @ avg 0.2017" in str(preview.content)


@sync
async def test_down_from_the_best_ask_skips_the_spread_and_sells_at_the_best_bid(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        ladder = await _on_ladder(pilot)
        await pilot.press("down")
        assert ladder.selected_key() == "bid:0.1500"
        await pilot.press("down", "down", "down")  # past the last level: stays on it
        assert ladder.selected_key() == "bid:0.1400"
        app.screen.query_one("#amount", Input).value = "1"  # typed before: kept
        ladder.focus()
        await pilot.press("enter")
        assert _ticket(app) == ("sell", "1", "0.1400")


@sync
async def test_one_click_on_a_level_takes_it(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        ladder = app.screen.query_one(PriceLadder)
        row = ladder.get_row_index("bid:0.1500")
        assert ladder.scroll_offset.y == 0
        await pilot.click(PriceLadder, offset=(2, row + 1))  # + the header row
        assert _ticket(app) == ("sell", "", "0.1500")
        row = ladder.get_row_index("ask:0.2100")
        await pilot.click(PriceLadder, offset=(2, row + 1))
        assert _ticket(app) == ("buy", "", "0.2100")


@sync
async def test_the_spread_row_stays_in_the_middle_of_the_ladder(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        ladder = app.screen.query_one(PriceLadder)
        # two asks and two bids, blank rows around them: the spread in the middle row
        assert ladder.row_count == ladder.size.height - 1  # all of it, under the header
        assert ladder.get_row_index(SPREAD) == ladder.row_count // 2
        await pilot.press("l")
        ladder.move_cursor(row=ladder.get_row_index(SPREAD))
        await pilot.press("enter")  # the spread row has no price to take
        assert _ticket(app) == ("buy", "", "")
        assert app.focused is ladder


@sync
async def test_a_viewer_has_no_mine_column_and_enter_changes_nothing(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "viewer")
        await settle(pilot)
        ladder = app.screen.query_one(PriceLadder)
        assert "Mine" not in [str(c.label) for c in ladder.columns.values()]
        assert set(ladder.levels) == {"ask:0.2000", "ask:0.2100", "bid:0.1500", "bid:0.1400"}
        ladder.focus()
        await pilot.press("enter")
        assert not app.screen.query_one("#ticket-pane").display
        assert not ladder.show_cursor  # no level to pick for a ticket it does not have


@sync
async def test_at_200x50_the_ladder_shows_more_levels_and_a_chart_of_today(market) -> None:
    in_db_levels = [("sell", "1", f"0.{2200 + 100 * i}") for i in range(20)]
    with bind(market[0]).database.connection_context():
        for side, amount, price in in_db_levels:
            place_order(SELLER, order_request(side, amount, price))
    app = make_app(*market)
    async with app.run_test(size=(200, 50)) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        ladder = app.screen.query_one(PriceLadder)
        asks = [key for key in ladder.levels if key.startswith("ask:")]
        assert len(asks) > 10  # the 120x36 ladder's 8
        assert ladder.get_row_index(SPREAD) == ladder.row_count // 2
        assert app.screen.query_one("#chart-pane").display
        depth = ladder.columns["Depth"].width  # type: ignore[index]
        assert depth >= 40
    assert Decimal(asks[0].split(":")[1]) == Decimal("0.2000")


@sync
async def test_at_80x24_enter_takes_unlisted_and_the_help_lists_it(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "alice")
        await _on_ladder(pilot)
        footer = [line for line in screen_text(app).splitlines() if "Quit" in line][-1]
        assert "Log out" in footer and "Take" not in footer  # the footer keeps its room
        await pilot.press("question_mark")
        await settle(pilot)
        app.screen.query_one("#help").scroll_end(animate=False)  # 24 rows: it scrolls
        await settle(pilot)
        assert "Take" in screen_text(app)
        await pilot.press("escape", "enter")  # the best ask, bought
        assert _ticket(app) == ("buy", "", "0.2000")


def _twenty_asks(market) -> None:
    """20 sells a level apart: more levels than any ladder here shows."""
    with bind(market[0]).database.connection_context():
        for i in range(20):
            place_order(SELLER, order_request("sell", "1", f"0.{2200 + 100 * i}"))


async def _read_as_deep_as_it_shows(pilot, screen: OrderBookScreen) -> int:
    """Wait until the last book read holds as many asks as the ladder has rows a side."""
    ladder = screen.query_one(PriceLadder)
    for _ in range(100):
        assert screen.snapshot is not None
        if len(screen.snapshot.book.asks) == ladder.fits():
            return ladder.fits()
        await pilot.pause(0.05)
        await settle(pilot)
    raise AssertionError(f"the book read never fit the ladder's {ladder.fits()} rows")


@sync
async def test_a_ladder_made_taller_reads_the_levels_it_now_has_room_for(market) -> None:
    """The book is read only as deep as the ladder shows (issue 15): grown from 80x24
    to 200x50, it reads the deeper levels and shows them."""
    _twenty_asks(market)
    app = make_app(*market)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OrderBookScreen) and screen.snapshot is not None
        ladder = screen.query_one(PriceLadder)

        read_small = await _read_as_deep_as_it_shows(pilot, screen)
        assert read_small < 10  # no deeper than it shows
        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        assert await _read_as_deep_as_it_shows(pilot, screen) > read_small
        asks = [key for key in ladder.levels if key.startswith("ask:")]
        assert len(asks) == ladder.fits()


@sync
async def test_a_ladder_made_shorter_reads_only_the_levels_it_still_shows(market) -> None:
    """A read made for a taller ladder (or guessed before the first layout) is followed
    by one as deep as the ladder now shows, so the UI never holds levels it cannot show."""
    _twenty_asks(market)
    app = make_app(*market)
    async with app.run_test(size=(120, 40)) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OrderBookScreen) and screen.snapshot is not None
        read_tall = await _read_as_deep_as_it_shows(pilot, screen)
        await pilot.resize_terminal(120, 24)
        await settle(pilot)
        read_short = await _read_as_deep_as_it_shows(pilot, screen)
        assert read_short < read_tall
        assert screen.depth_read == read_short
