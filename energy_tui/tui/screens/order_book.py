"""The trader's home: price ladder, order ticket, my open orders, the trade tape."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from energy_tui.errors import DatabaseUnavailable, EnergyError
from energy_tui.services import prosumers
from energy_tui.services.market import OrderRequest, cancel_order, place_order
from energy_tui.services.market import book as market
from energy_tui.services.market.book import Book, TradeView
from energy_tui.services.market.views import OrderView, PlaceResult
from energy_tui.services.permissions import Action
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.ladder import PriceLadder, summary
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket

DEPTH = 10
TAPE = 30
SHORT, NARROW = 34, 100  # terminal rows and columns below which the screen compacts


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the screen shows, read in one worker call."""

    book: Book
    tape: list[TradeView]
    orders: list[OrderView]
    mine: list[TradeView]
    balances: prosumers.Balances | None


def load_snapshot(address: str | None) -> Snapshot:
    book = market.book(DEPTH)
    tape = market.trades(market.TradeFilter(limit=TAPE))
    if address is None:
        return Snapshot(book, tape, [], [], None)
    return Snapshot(
        book,
        tape,
        market.open_orders(address),
        market.trades(market.TradeFilter(address=address, limit=20)),
        prosumers.balances(address),
    )


class OrderBookScreen(DataScreen):
    BINDINGS = [
        Binding("b", "new_order('buy')", "Buy"),
        Binding("s", "new_order('sell')", "Sell"),
        Binding("n", "new_order", "New order", show=False),
        Binding("c", "cancel_order", "Cancel order"),
        Binding("o", "focus_orders", "My orders"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "focus_orders", "Leave the ticket", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.last_fill_seq: int | None = None
        self.open_orders: dict[str, OrderView] = {}
        self.snapshot: Snapshot | None = None
        self.trading = False  # a ticket and orders of one's own (follow_role)

    def on_resize(self) -> None:
        # 80x24 and the like: the ticket drops its spacing and the address, the open
        # orders keep a few rows and the tape gives way, so the ticket and its preview fit.
        self.set_class(self.size.height < SHORT, "-short")
        self.set_class(self.size.width < NARROW, "-narrow")
        if self.snapshot is not None:
            self.query_one(PriceLadder).show(self.snapshot.book, DEPTH)
            self._show_balances(self.snapshot.balances)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Horizontal(id="book-top"):
            with Vertical(id="ladder-pane", classes="pane"):
                yield PriceLadder(id="ladder")
            with Vertical(id="side-pane"):
                with Vertical(id="ticket-pane", classes="pane"):
                    yield Static("", id="balances", classes="balances")
                    yield OrderTicket(self.energy.rules, id="ticket")
                with Vertical(id="tape-pane", classes="pane"):
                    yield Table(id="tape", cursor_type="none")
        with Vertical(id="orders-pane", classes="pane"):
            yield Table(id="orders")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ladder-pane").border_title = "Order book"
        self.query_one("#ticket-pane").border_title = "Order ticket"
        self.query_one("#tape-pane").border_title = "Trades"
        self.query_one("#orders-pane").border_title = "My open orders"
        self.query_one("#tape", Table).add_columns("Time", "Price", "kWh", "Taker")
        self.query_one("#orders", Table).add_columns(
            "Side", "kWh", "Price", "Filled", "Status", "Expires", "Why not matched"
        )
        self.follow_role()
        self.query_one(OrderTicket).show_preview(None)
        super().on_mount()

    def follow_role(self) -> None:
        """A ticket and orders only for someone who trades for a prosumer, as they are now."""
        self.trading = self.energy.can(Action.TRADE_OWN) and self.address is not None
        self.query_one("#ticket-pane").display = self.trading
        self.query_one("#orders-pane").display = self.trading
        if not self.trading and self.focused is not None:
            self.set_focus(None)  # not left typing into a hidden ticket

    def follow_actor(self) -> None:
        self.follow_role()
        super().follow_actor()

    @property
    def address(self) -> str | None:
        actor = self.energy.actor
        return actor.prosumer_address if actor else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No ticket and no orders of one's own (a viewer): no keys for them either."""
        if action in ("new_order", "cancel_order", "focus_orders"):
            return self.trading
        return True

    def refresh_data(self) -> None:
        if self.energy.session is not None:
            self.run_db(load_snapshot, self.address, then=self.show_snapshot, group="snapshot")

    def show_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.query_one(OrderTicket).rules = self.energy.rules  # reloaded when the market moved
        self.query_one(PriceLadder).show(snap.book, DEPTH)
        self.query_one("#ladder-pane").border_subtitle = summary(snap.book)
        self._show_tape(snap.tape)
        self._show_orders(snap.orders, snap.book)
        self._show_balances(snap.balances)
        self._toast_fills(snap.mine)

    def _show_tape(self, trades: list[TradeView]) -> None:
        table = self.query_one("#tape", Table)
        table.clear()
        for t in trades:
            style = "green" if t.taker_side == "buy" else "red"
            table.add_row(
                t.executed_at.strftime("%H:%M:%S"),
                Text(f"{t.price:.4f}", style=style),
                Text(f"{t.amount:,.2f}", justify="right"),
                t.taker_side or "",
            )

    def _show_orders(self, orders: list[OrderView], book: Book) -> None:
        self.open_orders = {str(o.id): o for o in orders}
        self.query_one("#orders", Table).refill(
            (str(o.id), self._order_cells(o, book)) for o in orders
        )

    @staticmethod
    def _order_cells(o: OrderView, book: Book) -> tuple[object, ...]:
        expires = o.expires_at.strftime("%m-%d %H:%M") if o.expires_at else "never"
        return (
            Text(o.side, style="green" if o.side == "buy" else "red"),
            f"{o.amount:,.2f}",
            f"{o.price:.4f}",
            f"{o.filled:,.2f}",
            o.status.replace("_", " "),
            expires,
            market.why_not_matched(o, book),
        )

    def _show_balances(self, b: prosumers.Balances | None) -> None:
        # two lines: one would wrap mid-figure in a half-width pane
        if b is None:
            text = ""
        elif self.has_class("-narrow"):
            text = (
                f"WATT {b.watt_available:,.2f} free, {b.watt_reserved:,.2f} held\n"
                f"kWh {b.energy_available:,.2f} free, {b.energy_reserved:,.2f} held"
            )
        else:
            text = (
                f"[b]{b.address}[/b]  WATT {b.watt_available:,.2f} avail "
                f"({b.watt_reserved:,.2f} held)\n"
                f"energy {b.energy_available:,.2f} kWh avail ({b.energy_reserved:,.2f} held)"
            )
        self.query_one("#balances", Static).update(text)

    def _toast_fills(self, mine: list[TradeView]) -> None:
        newest = max((t.seq for t in mine), default=0)
        if self.last_fill_seq is not None and self.address:
            for t in reversed(mine):
                if t.seq > self.last_fill_seq:
                    side = t.side_for(self.address)
                    self.notify(
                        f"Your {side} filled {t.amount:,.2f} kWh @ {t.price:.4f}",
                        title="Order filled",
                    )
        self.last_fill_seq = max(newest, self.last_fill_seq or 0)

    # -- ticket ---------------------------------------------------------------------------

    @on(OrderTicket.Changed)
    def preview(self, event: OrderTicket.Changed) -> None:
        ticket = self.query_one(OrderTicket)
        request = event.request
        if request is None:
            ticket.show_preview(None)
            return
        self.run_db(
            market.preview,
            self.address,
            request.side,
            request.amount,
            request.price,
            then=ticket.show_preview,
            group="preview",
        )

    @on(OrderTicket.Submitted)
    def place(self, event: OrderTicket.Submitted) -> None:
        request: OrderRequest = event.request
        actor, bridge = self.energy.actor, self.energy.bridge

        def job() -> None:
            try:
                result = bridge.call(place_order, actor, request)
            except DatabaseUnavailable:
                raise  # the app's banner
            except EnergyError as exc:  # shown where the order was typed
                self.app.call_from_thread(
                    self.query_one(OrderTicket).show_preview, None, f"[red]{exc}[/red]"
                )
                return
            self.app.call_from_thread(self.placed, result)

        self.run_worker(job, thread=True, group="place", exclusive=False, exit_on_error=False)

    def placed(self, result: PlaceResult) -> None:
        o = result.order
        filled = f", filled {o.filled:,.2f} kWh" if o.filled else ""
        self.notify(
            f"{o.side.title()} {o.amount:,.2f} kWh @ {o.price:.4f}: "
            f"{o.status.replace('_', ' ')}{filled}",
            title="Order placed",
        )
        ticket = self.query_one(OrderTicket)
        ticket.clear_amount()
        ticket.show_preview(None)
        ticket.focus_amount()  # ready for the next order at the same price
        self.refresh_data()

    # -- actions --------------------------------------------------------------------------

    def action_new_order(self, side: str | None = None) -> None:
        """Into the ticket's amount field (on `side`, if given), from anywhere on the
        screen, the ticket's own fields included: what is typed there stays."""
        if self.trading:
            ticket = self.query_one(OrderTicket)
            if side is not None:
                ticket.set_side(side)
            ticket.focus_amount()

    def action_focus_orders(self) -> None:
        self.query_one("#orders", Table).focus()

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_cancel_order(self) -> None:
        key = self.query_one("#orders", Table).selected_key()
        order = self.open_orders.get(key or "")
        if order is None:
            self.notify("No open order selected: move to one with o, then j/k.", severity="warning")
            return
        detail = (
            f"{order.side} {order.remaining:,.2f} kWh @ {order.price:.4f} "
            f"(filled {order.filled:,.2f})"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_db(
                    cancel_order,
                    self.energy.actor,
                    order.id,
                    then=self.cancelled,
                    group="cancel",
                    exclusive=False,
                )

        self.app.push_screen(Confirm("Cancel this order?", detail, yes="Cancel order"), answered)

    def cancelled(self, order: OrderView) -> None:
        self.notify(
            f"Cancelled {order.side} @ {order.price:.4f}; {order.remaining:,.2f} kWh released",
            title="Order cancelled",
        )
        self.refresh_data()
