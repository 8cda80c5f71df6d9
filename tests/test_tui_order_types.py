"""Pilot tests of the ticket's order types and the work on my orders: market and FOK
orders, amend from the open orders, cancel all, the history and an order's fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Label, Static

from energy_tui.db.models import EnergyOrder, EnergyTrade
from energy_tui.runtime import bind
from energy_tui.services import prosumers
from energy_tui.services.market import order_request, place_order
from energy_tui.tui.app import make_app
from energy_tui.tui.widgets import ticket as ticket_module
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.my_orders import MyOrders
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.order_fills import OrderFills
from energy_tui.tui.widgets.tables import Table
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
    table_rows,
    type_text,
)

D = Decimal


@pytest.fixture
def market(tmp_path: Path):
    """Asks 5 kWh at 0.2000 and 3 at 0.2100, a bid at 0.1400 (a seller's), and alice's
    resting buy of 2.50 kWh at 0.1500: the mid 0.1750 sets a market order's default
    cap (0.2100 for a buy, the 20% band)."""
    return seller_market(
        tmp_path,
        (
            ("sell", "5", "0.2000"),
            ("sell", "3", "0.2100"),
            ("buy", "2", "0.1400"),
        ),
    )


def _ticket(app) -> OrderTicket:
    return app.screen.query_one(OrderTicket)


def _preview(app) -> str:
    return str(_ticket(app).query_one("#preview", Static).content)


async def _wait_for(pilot, condition, tries: int = 100) -> None:
    for _ in range(tries):
        await settle(pilot)
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def _alices() -> list[EnergyOrder]:
    return list(EnergyOrder.select().where(EnergyOrder.trader_address == "home-01"))


def _market_orders() -> list[EnergyOrder]:
    return [o for o in _alices() if o.kind == "market"]


async def _place_market_order(pilot, asked_about: str | None = None) -> EnergyOrder:
    """Enter on the ticket, yes to the guard if it asks (its question naming
    `asked_about`), and alice's one market order once it is in the database."""
    app = pilot.app
    await pilot.press("enter")
    await _wait_for(
        pilot, lambda: isinstance(app.screen, ConfirmOrder) or bool(in_db(_market_orders))
    )
    if isinstance(app.screen, ConfirmOrder):
        if asked_about is not None:
            assert asked_about in screen_text(app)
        await pilot.press("y")
    await _wait_for(pilot, lambda: bool(in_db(_market_orders)))
    (placed,) = in_db(_market_orders)
    return placed


@sync
async def test_f10_makes_a_market_buy_whose_preview_walks_to_the_worst_price(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("b", "6")
        await pilot.press("f10", "f10", "f10")  # IOC, FOK, then market
        ticket = _ticket(app)
        assert (ticket.kind, ticket.time_in_force) == ("market", "ioc")
        assert str(ticket.query_one("#price-label", Label).content) == "Cap"  # optional
        await settle(pilot)
        preview = _preview(app)
        assert "Market buy, cap 0.2100 (default cap: mid 0.1750 + the 20% price band)" in preview
        assert "Walks to [b]0.2100[/b] (worst), avg 0.2017: 6.00 of 6.00 kWh" in preview
        await pilot.press("enter")
        await _wait_for(pilot, lambda: in_db(EnergyTrade.select().count) == 2)
        (market_buy,) = [o for o in in_db(_alices) if o.kind == "market"]
        assert (market_buy.filled_amount, market_buy.is_active) == (D("6.00"), False)


@sync
async def test_a_market_buy_is_placed_at_the_default_cap_its_preview_showed(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("b", "1", "0")
        await pilot.press("f10", "f10", "f10")  # market, no cap
        await settle(pilot)
        assert "Market buy, cap 0.2100 (default cap: mid 0.1750" in _preview(app)
        app.screen._preview = lambda request: None  # type: ignore[attr-defined]  # stays shown
        # meanwhile the market moves: mid 0.1800 (a default cap of 0.2160), an ask at 0.2150
        in_db(place_order, SELLER, order_request("buy", "2", "0.1600"))
        in_db(place_order, SELLER, order_request("sell", "2", "0.2150"))
        placed = await _place_market_order(pilot, asked_about="0.2100")
        assert (placed.price_per_kwh, placed.filled_amount) == (D("0.2100"), D("8.00"))


@sync
async def test_enter_before_the_preview_shows_a_cap_places_nothing(market) -> None:
    """A market order without a cap is placed at the cap its preview showed; Enter
    pressed before that preview arrived would place at a cap nobody saw: refused in the
    ticket, and placed at the shown cap once the preview is there."""
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("b", "1", "0")
        await pilot.press("f10", "f10", "f10")  # market, no cap
        await settle(pilot)
        ticket = _ticket(app)
        shown = ticket.shown
        assert shown is not None and shown.cap == D("0.2100")
        ticket.shown = None  # as before the preview's worker has answered
        await pilot.press("enter")
        await settle(pilot)
        assert ticket_module.NO_CAP_SHOWN in str(ticket.query_one("#order-error", Static).content)
        assert not in_db(_market_orders)
        ticket.show_preview(shown)  # the preview arrives
        placed = await _place_market_order(pilot)
        assert placed.price_per_kwh == D("0.2100")


@sync
async def test_a_fok_that_cannot_fill_leaves_the_book_and_balances_as_they_were(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        before = in_db(prosumers.balances, "home-01")
        await pilot.press("b", "1", "0")  # 10 kWh: 8 on offer at 0.2100 or less
        await pilot.press("tab", *"0.2100", "f10", "f10")
        assert _ticket(app).time_in_force == "fok"
        await pilot.press("enter")
        await _wait_for(pilot, lambda: any("FOK" in n.message for n in app._notifications))
        assert in_db(prosumers.balances, "home-01") == before
        assert in_db(EnergyTrade.select().count) == 0
        assert "Order killed" in [n.title for n in app._notifications]


@sync
async def test_a_amends_the_selected_open_order_a_smaller_amount_keeps_its_place(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        await pilot.press("o", "a")
        ticket = _ticket(app)
        assert ticket.amending is not None
        assert (ticket.query_one("#amount", Input).value, ticket.side) == ("2.50", "buy")
        await pilot.press("shift+tab", "ctrl+a", "ctrl+k", "1")  # the amount: 1 kWh
        await settle(pilot)
        assert "keeps its place in the queue" in _preview(app)
        await pilot.press("enter")
        await _wait_for(pilot, lambda: ticket.amending is None)
        toasts = [n.message for n in app._notifications]
        assert "Amended to buy 1.00 kWh @ 0.1500: kept its place in the queue" in toasts
        (order,) = in_db(_alices)
        assert order.energy_amount == D("1.00")


@sync
async def test_an_amended_price_far_from_the_market_asks_first(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await settle(pilot)
        await pilot.press("o", "a", "ctrl+a", "ctrl+k", *"0.0500")
        await settle(pilot)
        assert "goes to the back of the queue" in _preview(app)
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder))
        assert "Amend this order?" in screen_text(app)
        await pilot.press("enter")  # Go back: nothing changed, the amendment as typed
        await settle(pilot)
        assert in_db(_alices)[0].price_per_kwh == D("0.1500")
        assert _ticket(app).amending is not None
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder))
        await pilot.press("y")
        await _wait_for(pilot, lambda: in_db(_alices)[0].price_per_kwh == D("0.0500"))
        await _wait_for(pilot, lambda: _ticket(app).amending is None)
        toasts = [n.message for n in app._notifications]
        assert "Amended to buy 2.50 kWh @ 0.0500: back of the queue at its price" in toasts


@sync
async def test_cancel_all_asks_with_the_count_and_what_it_releases(market) -> None:
    in_db_place = bind(market[0]).database.connection_context
    with in_db_place():
        place_order(ALICE, order_request("sell", "2", "0.2500"))
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        held = in_db(prosumers.balances, "home-01")
        await pilot.press("x")
        await _wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        text = screen_text(app)
        assert "Cancel all 2 open orders?" in text
        assert f"releasing {held.watt_reserved:,.2f} WATT and 2.00 kWh" in text
        await pilot.press("enter")  # the safe default: no
        await settle(pilot)
        assert len([o for o in in_db(_alices) if o.is_active]) == 2
        await pilot.press("x")
        await _wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await _wait_for(pilot, lambda: not any(o.is_active for o in in_db(_alices)))
        after = in_db(prosumers.balances, "home-01")
        assert (after.watt_reserved, after.energy_reserved) == (D("0.00"), D("0.00"))
        assert any(n.message.startswith("Cancelled 2 orders") for n in app._notifications)


@sync
async def test_cancel_all_leaves_an_order_placed_after_the_question_open(market) -> None:
    with bind(market[0]).database.connection_context():
        place_order(ALICE, order_request("sell", "2", "0.2500"))
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("x")
        await _wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        assert "Cancel all 2 open orders?" in screen_text(app)
        # meanwhile another terminal (or a bot, the API) places one more
        later = in_db(place_order, ALICE, order_request("sell", "1", "0.2600")).order
        await pilot.press("y")
        await _wait_for(pilot, lambda: len([o for o in in_db(_alices) if o.is_active]) == 1)
        await settle(pilot)
        assert [o.id for o in in_db(_alices) if o.is_active] == [later.id]
        toasts = [n.message for n in app._notifications]
        assert any(
            m.startswith("Cancelled 2 orders")
            and m.endswith("; 1 order placed since the question was left open")
            for m in toasts
        ), toasts


@sync
async def test_h_shows_the_history_and_enter_lists_an_orders_fills(market) -> None:
    with bind(market[0]).database.connection_context():
        place_order(ALICE, order_request("buy", "6", "0.2100"))  # 5 at 0.2000, 1 at 0.2100
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("h")
        my_orders = app.screen.query_one(MyOrders)
        history = my_orders.query_one("#history", Table)
        await _wait_for(pilot, lambda: history.row_count == 2)
        rows = table_rows(history)
        newest = rows[0]
        assert newest[1:] == [
            "buy",
            "limit",
            "6.00",
            "0.2100",
            "6.00",
            "0.2017",
            "filled",
            "",
        ]
        assert rows[1][7] == "open"
        assert app.focused is history
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, OrderFills))
        fills = table_rows(app.screen.query_one("#fills", Table))
        assert [row[1:4] for row in fills] == [
            ["5.00", "0.2000", "1.05"],
            ["1.00", "0.2100", "0.23"],
        ]
        assert "6.00 of 6.00 kWh filled at an average 0.2017 in 2 fills" in screen_text(app)
        await pilot.press("escape", "h")
        assert my_orders.view == "open"


@sync
async def test_the_order_keys_are_listed_at_120_and_unlisted_but_working_at_80(market) -> None:
    app = make_app(*market)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await login(pilot, "alice")
        await pilot.press("o")
        footer = [line for line in screen_text(app).splitlines() if "Quit" in line][-1]
        assert "Log out" in footer and "Amend" not in footer
        await pilot.press("a")
        assert _ticket(app).amending is not None
        await pilot.press("escape")
    app = make_app(*market)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login(pilot, "alice")
        footer = [line for line in screen_text(app).splitlines() if "Quit" in line][-1]
        assert "Log out" in footer and "Amend" not in footer  # on the ladder: not listed
        await pilot.press("o")
        footer = [line for line in screen_text(app).splitlines() if "Quit" in line][-1]
        assert all(key in footer for key in ("Amend", "Cancel all", "History", "Log out"))
        await type_text(pilot, "b")  # into the ticket: F10 steps the order type
        footer = [line for line in screen_text(app).splitlines() if "Quit" in line][-1]
        assert "Order type" in footer


@sync
async def test_ioc_and_fok_read_ticked_or_not_without_colour(market) -> None:
    """The boxes' text differs ticked and not (not only their colour)."""

    def shown(box_id: str) -> str:
        return _ticket(app).query_one(box_id, Checkbox).render().plain.strip()

    app = make_app(*market)
    async with app.run_test(size=SIZE) as pilot:
        await login(pilot, "alice")
        await pilot.press("b")
        assert (shown("#ioc"), shown("#fok")) == ("▐ ▌ IOC", "▐ ▌ FOK")
        await pilot.press("f10")  # limit IOC
        await settle(pilot)
        assert (shown("#ioc"), shown("#fok")) == ("▐✓▌ IOC", "▐ ▌ FOK")
        await pilot.press("f10")  # limit FOK
        await settle(pilot)
        assert (shown("#ioc"), shown("#fok")) == ("▐ ▌ IOC", "▐✓▌ FOK")
        assert "▐✓▌ FOK" in screen_text(app)
