"""My orders, two ways: the open ones (with why each has not matched) and the history
of all of them (status, average fill price, why it ended); `h` switches.

The screen loads both through services and hands them over; Enter on an order of the
history asks for its fills (`FillsWanted`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from energy_tui.services.market.views import OrderView
from energy_tui.tui.widgets.cells import Cell, label, number
from energy_tui.tui.widgets.tables import Table

NO_OPEN_ORDERS = "No open orders: place one with the ticket (b / s)"
NO_HISTORY = "No orders yet: the ones you place are listed here, open or not"
TITLES = {"open": "My open orders", "history": "My orders: history (Enter lists the fills)"}


class MyOrders(Vertical):
    @dataclasses.dataclass
    class FillsWanted(Message):
        order: OrderView

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.view = "open"
        self.open_orders: dict[str, OrderView] = {}
        self.history: dict[str, OrderView] = {}

    def compose(self) -> ComposeResult:
        yield Static(NO_OPEN_ORDERS, id="orders-empty", classes="empty-note")
        yield Table(id="orders")
        yield Static(NO_HISTORY, id="history-empty", classes="empty-note")
        yield Table(id="history")

    def on_mount(self) -> None:
        self.border_title = TITLES["open"]
        self.query_one("#orders", Table).add_columns(
            "Side", "kWh", "Price", "Filled", "Status", "Expires", "Why not matched"
        )
        self.query_one("#history", Table).add_columns(
            "Placed", "Side", "Kind", "kWh", "Price", "Filled", "Avg price", "Status", "Why"
        )
        for note in self.query(".empty-note"):
            note.display = False  # until the first load says the table is empty
        self.query_one("#history", Table).display = False

    # -- which view -----------------------------------------------------------------------

    def switch(self) -> str:
        """Open orders <-> history; the view now shown."""
        self.view = "history" if self.view == "open" else "open"
        showing_history = self.view == "history"
        self.query_one("#orders", Table).display = not showing_history
        self.query_one("#orders-empty").display = not showing_history and not self.open_orders
        self.query_one("#history", Table).display = showing_history
        self.query_one("#history-empty").display = showing_history and not self.history
        self.border_title = TITLES[self.view]
        self.table.focus()
        return self.view

    @property
    def table(self) -> Table:
        return self.query_one("#history" if self.view == "history" else "#orders", Table)

    # -- what they show ------------------------------------------------------------------

    def show_open(self, orders: list[OrderView], why: Callable[[OrderView], str]) -> None:
        self.open_orders = {str(o.id): o for o in orders}
        self.query_one("#orders-empty").display = self.view == "open" and not orders
        self.query_one("#orders", Table).sync_values(
            ((key, (o, why(o))) for key, o in self.open_orders.items()), _open_row
        )

    def show_history(self, orders: list[OrderView]) -> None:
        self.history = {str(o.id): o for o in orders}
        self.query_one("#history-empty").display = self.view == "history" and not orders
        self.query_one("#history", Table).sync_values(self.history.items(), _history_cells)

    def selected_open(self) -> OrderView | None:
        """The open order under the cursor of the open orders (None in the history)."""
        if self.view != "open":
            return None
        return self.open_orders.get(self.query_one("#orders", Table).selected_key() or "")

    @on(DataTable.RowSelected, "#history")
    def _fills(self, event: DataTable.RowSelected) -> None:
        event.stop()
        order = self.history.get(event.row_key.value or "")
        if order is not None:
            self.post_message(self.FillsWanted(order))


def _side(o: OrderView) -> Text:
    return Text(o.side, style="green" if o.side == "buy" else "red")


def _open_row(value: tuple[OrderView, str]) -> tuple[object, ...]:
    return _open_cells(*value)


def _open_cells(o: OrderView, why: str) -> tuple[object, ...]:
    expires = o.expires_at.strftime("%m-%d %H:%M") if o.expires_at else "never"
    return (
        _side(o),
        f"{o.amount:,.2f}",
        f"{o.price:.4f}",
        f"{o.filled:,.2f}",
        o.status.replace("_", " "),
        expires,
        why,
    )


def _history_cells(o: OrderView) -> tuple[object, ...]:
    kind = o.kind if o.time_in_force == "gtc" else f"{o.kind} {o.time_in_force.upper()}"
    average = o.average_price
    return (
        Cell(o.created_at, o.created_at.strftime("%m-%d %H:%M")),
        _side(o),
        label(kind),
        number(o.amount, f"{o.amount:,.2f}"),
        number(o.price, f"{o.price:.4f}"),
        number(o.filled, f"{o.filled:,.2f}"),
        number(average, f"{average:.4f}" if average is not None else "-"),
        label(o.status.replace("_", " ")),
        label(o.reason or ""),
    )
