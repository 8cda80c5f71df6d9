"""The fills of one of my orders, over the book: when, how much, at what price, what it
cost or earned. Esc, Enter or q closes it."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from energy_tui.services.market.book import TradeView
from energy_tui.services.market.views import OrderView
from energy_tui.tui.widgets.cells import number
from energy_tui.tui.widgets.tables import Table


class OrderFills(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, order: OrderView, fills: list[TradeView]) -> None:
        super().__init__()
        self.order, self.fills = order, fills

    def compose(self) -> ComposeResult:
        o = self.order
        with Vertical(classes="dialog order-fills"):
            yield Label(
                f"Fills of {o.side} {o.amount:,.2f} kWh @ {o.price:.4f}", classes="form-title"
            )
            yield Static(summary(o, self.fills), id="fills-summary")
            yield Table(id="fills", cursor_type="none")

    def on_mount(self) -> None:
        table = self.query_one("#fills", Table)
        money = "Paid (fee incl.)" if self.order.side == "buy" else "Received"
        table.add_columns("Time", "kWh", "Price", money, "Role")
        for fill in self.fills:
            taker = fill.taker_side == self.order.side
            table.add_row(
                fill.executed_at.strftime("%m-%d %H:%M:%S"),
                number(fill.amount, f"{fill.amount:,.2f}"),
                number(fill.price, f"{fill.price:.4f}"),
                number(self._money(fill), f"{self._money(fill):,.2f}"),
                "taker" if taker else "maker",
            )
        table.display = bool(self.fills)

    def _money(self, fill: TradeView) -> Decimal:
        return fill.buyer_total if self.order.side == "buy" else fill.total


def summary(order: OrderView, fills: list[TradeView]) -> Text:
    status = order.status.replace("_", " ")
    if not fills:
        why = f": {order.reason}" if order.reason else ""
        return Text(f"No fills; the order is {status}{why}")
    average = f" at an average {order.average_price:.4f}" if order.average_price else ""
    line = f"{order.filled:,.2f} of {order.amount:,.2f} kWh filled{average} in {len(fills)} fill"
    line += "s" if len(fills) > 1 else ""
    line += f"; the order is {status}" + (f" ({order.reason})" if order.reason else "")
    return Text(line)
