"""The trader's home: price ladder, order ticket, my open orders, the trade tape."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Static

from energy_tui import clock
from energy_tui.errors import DatabaseBusy, DatabaseUnavailable, EnergyError
from energy_tui.services import prosumers
from energy_tui.services.market import OrderRequest, cancel_order, guard, place_order, stats
from energy_tui.services.market import book as market
from energy_tui.services.market.book import Book, Preview, TradeView
from energy_tui.services.market.stats import Candle
from energy_tui.services.market.views import Fill, OrderView, PlaceResult
from energy_tui.services.permissions import Action
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.ladder import PriceLadder, summary
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from energy_tui.tui.widgets.today_chart import BUCKET_SECONDS, TodayChart

T = TypeVar("T")

DEPTH = 30  # levels a side read; the ladder shows as many as its height holds
TAPE = 30
SHORT, NARROW = 34, 100  # terminal rows and columns below which the screen compacts
WIDE = 160  # columns from which today's price chart sits beside the tape
TALL = 44  # rows from which the book gets three quarters of the height
EMPTY_BOOK = "No orders yet: be the first — type an amount and a price"
NO_OPEN_ORDERS = "No open orders: place one with the ticket (b / s)"
BUSY = "the market is busy, try again"
# What a lock wait that ran out says, per backend (SQLite, MySQL/MariaDB, PostgreSQL).


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the screen shows, read in one worker call."""

    book: Book
    tape: list[TradeView]
    orders: list[OrderView]
    mine: list[TradeView]
    balances: prosumers.Balances | None
    candles: list[Candle] | None  # today's quarter hours, read only for the wide chart


def load_snapshot(address: str | None, chart: bool = False) -> Snapshot:
    """The book (with my size on its levels), the tape, my orders, fills and balances;
    today's candles too when the chart is shown."""
    book = market.book(DEPTH, address)
    tape = market.trades(market.TradeFilter(limit=TAPE))
    candles = _today(BUCKET_SECONDS) if chart else None
    if address is None:
        return Snapshot(book, tape, [], [], None, candles)
    return Snapshot(
        book,
        tape,
        market.open_orders(address),
        market.trades(market.TradeFilter(address=address, limit=20)),
        prosumers.balances(address),
        candles,
    )


def _today(seconds: int) -> list[Candle]:
    midnight = dt.datetime.combine(clock.now().date(), dt.time())
    return stats.candles(seconds, midnight)


class OrderBookScreen(DataScreen):
    BINDINGS = [
        Binding("b", "new_order('buy')", "Buy"),
        Binding("s", "new_order('sell')", "Sell"),
        Binding("n", "new_order", "New order", show=False),
        Binding("c", "cancel_order", "Cancel"),
        Binding("o", "focus_orders", "Orders"),
        Binding("l", "focus_ladder", "Ladder"),
        Binding("r", "refresh", "Refresh", show=False),
        # A field of the ticket takes every printable key (b and s type into it): there
        # these choose the side, and Esc leaves the ticket for b, s, c and o.
        Binding("f7", "choose_side('buy')", "Buy"),
        Binding("f8", "choose_side('sell')", "Sell"),
        Binding("escape", "leave_ticket", "Leave ticket"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.last_fill_seq: int | None = None
        self.open_orders: dict[str, OrderView] = {}
        self.snapshot: Snapshot | None = None
        self.trading = False  # a ticket and orders of one's own (follow_role)
        self.placing = False  # an order between Enter and its outcome

    def on_resize(self) -> None:
        # 80x24 and the like: the ticket drops its spacing and the address, the open
        # orders keep a few rows and the tape gives way, so the ticket and its preview fit.
        # From 160 columns the room goes to a chart of today beside the tape (and to
        # the ladder's bars, which take whatever width their pane has).
        self.set_class(self.size.height < SHORT, "-short")
        self.set_class(self.size.width < NARROW, "-narrow")
        self.set_class(self.size.width >= WIDE, "-wide")
        self.set_class(self.size.height >= TALL, "-tall")
        if self.snapshot is not None:  # the ladder redraws itself to its own new size
            self._show_balances(self.snapshot.balances)
            if self.has_class("-wide") and self.snapshot.candles is None:
                self.refresh_data()  # widened: the chart's data was not read

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Horizontal(id="book-top"):
            with Vertical(id="ladder-pane", classes="pane"):
                yield Static(EMPTY_BOOK, id="ladder-empty", classes="empty-note")
                yield PriceLadder(id="ladder")
            with Vertical(id="side-pane"):
                with Vertical(id="ticket-pane", classes="pane"):
                    yield Static("", id="balances", classes="balances")
                    yield OrderTicket(self.energy.rules, id="ticket")
                with Horizontal(id="market-row"):
                    with Vertical(id="chart-pane", classes="pane"):
                        yield TodayChart(id="today")
                    with Vertical(id="tape-pane", classes="pane"):
                        yield Table(id="tape", cursor_type="none")
        with Vertical(id="orders-pane", classes="pane"):
            yield Static(NO_OPEN_ORDERS, id="orders-empty", classes="empty-note")
            yield Table(id="orders")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ladder-pane").border_title = "Order book"
        self.query_one("#ticket-pane").border_title = "Order ticket"
        self.query_one("#tape-pane").border_title = "Trades"
        self.query_one("#chart-pane").border_title = "Today"
        self.query_one("#orders-pane").border_title = "My open orders"
        self.query_one("#tape", Table).add_columns("Time", "Price", "kWh", "Taker")
        self.query_one("#orders", Table).add_columns(
            "Side", "kWh", "Price", "Filled", "Status", "Expires", "Why not matched"
        )
        self.follow_role()
        self.query_one(OrderTicket).show_preview(None)
        for note in self.query(".empty-note"):
            note.display = False  # until the first snapshot says the table is empty
        super().on_mount()

    def follow_role(self) -> None:
        """A ticket and orders only for someone who trades for a prosumer, as they are now."""
        self.trading = self.energy.can(Action.TRADE_OWN) and self.address is not None
        self.query_one("#ticket-pane").display = self.trading
        self.query_one("#orders-pane").display = self.trading
        self.query_one(PriceLadder).trading = self.trading
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
        if action == "choose_side":
            return self.trading and isinstance(self.focused, Input) and self._in_ticket()
        if action == "focus_ladder":  # not shown while there: the footer is short at 80
            return not isinstance(self.focused, PriceLadder)
        if action == "leave_ticket":
            return self.trading and self._in_ticket()
        return True

    def _in_ticket(self) -> bool:
        focused = self.focused
        return focused is not None and any(isinstance(n, OrderTicket) for n in focused.ancestors)

    def refresh_data(self) -> None:
        if self.energy.session is not None:
            chart = self.has_class("-wide")
            self.run_db(
                load_snapshot, self.address, chart, then=self.show_snapshot, group="snapshot"
            )

    def show_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.query_one(OrderTicket).rules = self.energy.rules  # reloaded when the market moved
        self.query_one(PriceLadder).show(snap.book)
        if snap.candles is not None:
            self.query_one(TodayChart).show_today(snap.candles)
        self.query_one("#ladder-empty").display = not (snap.book.bids or snap.book.asks)
        self.query_one("#ladder-pane").border_subtitle = summary(snap.book)
        self._show_tape(snap.tape)
        self._show_orders(snap.orders, snap.book)
        self._show_balances(snap.balances)
        self._toast_fills(snap.mine, quiet_first=True)
        if self.trading:  # the book moved: what the typed order would do moved with it
            self._preview(self.query_one(OrderTicket).current())

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
        self.query_one("#orders-empty").display = not orders
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

    def _toast_fills(self, fills: Iterable[TradeView | Fill], *, quiet_first: bool = False) -> None:
        """One toast per fill not shown yet. The first snapshot's trades (`quiet_first`)
        are history: they only set where the toasts start."""
        fills = sorted(fills, key=lambda f: f.seq)
        newest = fills[-1].seq if fills else 0
        if not (quiet_first and self.last_fill_seq is None):
            for fill in fills:
                if fill.seq > (self.last_fill_seq or 0):
                    self.notify(self._fill_text(fill), title="Filled")
        self.last_fill_seq = max(newest, self.last_fill_seq or 0)

    def _fill_text(self, fill: TradeView | Fill) -> str:
        what = f"{fill.amount:,.2f} kWh @ {fill.price:.4f}"
        if fill.buyer_address == self.address:
            return f"Bought {what} ({fill.buyer_total:,.2f} WATT with fee)"
        return f"Sold {what} ({fill.total:,.2f} WATT)"

    # -- ticket ---------------------------------------------------------------------------

    @on(PriceLadder.Picked)
    def take_level(self, event: PriceLadder.Picked) -> None:
        """A level picked on the ladder: its price into the ticket, on the side that
        takes it (an ask is bought), the amount typed so far kept."""
        if self.trading:
            self.query_one(OrderTicket).take(event.side, event.price)

    @on(OrderTicket.Changed)
    def ticket_changed(self, event: OrderTicket.Changed) -> None:
        self._preview(event.request)

    def _preview(self, request: OrderRequest | None) -> None:
        if request is None:
            self.query_one(OrderTicket).show_preview(None)
            return
        self.run_db(
            market.preview,
            self.address,
            request.side,
            request.amount,
            request.price,
            then=self._show_preview,
            group="preview",
        )

    def _show_preview(self, preview: Preview) -> None:
        ticket = self.query_one(OrderTicket)
        if ticket.matches(preview):  # not an answer about what was typed before
            ticket.show_preview(preview)

    @on(OrderTicket.Submitted)
    def submit(self, event: OrderTicket.Submitted) -> None:
        """Ask the guard first: an order far from the market or large against the
        balance is placed only once confirmed."""
        if self.placing:  # a second Enter while the first is on its way: one order
            return
        self.placing = True
        request, address, rules = event.request, self.address, self.energy.rules
        self._ticket_job(lambda b: b.call(guard.check, address, request, rules), self._guarded)

    def _guarded(self, caution: guard.Caution) -> None:
        if not caution.needs_confirmation:
            self.place(caution.request)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.place(caution.request)
            else:
                self.placing = False  # back to the ticket, as typed

        self.app.push_screen(ConfirmOrder(caution), answered)

    def place(self, request: OrderRequest) -> None:
        actor = self.energy.actor
        self._ticket_job(lambda b: b.call(place_order, actor, request), self.placed)

    def _ticket_job(self, work: Callable[[Any], T], then: Callable[[T], None]) -> None:
        """Run `work(bridge)` in a thread worker; whatever stops it is said in the ticket,
        with the fields kept. A server that does not answer also raises the app's banner,
        and an unexpected error is logged by the app's handler."""
        bridge = self.energy.bridge

        def job() -> None:
            try:
                result = work(bridge)
            except Exception as exc:
                self.app.call_from_thread(self.not_placed, _why_not_placed(exc))
                if isinstance(exc, DatabaseUnavailable):
                    raise
                if not isinstance(exc, EnergyError):
                    raise
                return
            self.app.call_from_thread(then, result)

        self.run_worker(job, thread=True, group="place", exclusive=False, exit_on_error=False)

    def not_placed(self, why: str) -> None:
        self.placing = False
        self.query_one(OrderTicket).show_error(f"Not placed: {why}")

    def placed(self, result: PlaceResult) -> None:
        """A toast per fill, and one for what became of the rest."""
        self.placing = False
        o = result.order
        self._toast_fills(result.fills)
        if o.time_in_force == "ioc" and o.remaining:
            self.notify(
                f"IOC: {o.filled:,.2f} of {o.amount:,.2f} kWh filled, {o.remaining:,.2f} cancelled",
                title="Order placed",
            )
        elif o.remaining:
            verb = "Buying" if o.side == "buy" else "Selling"
            self.notify(
                f"{verb} {o.remaining:,.2f} kWh @ {o.price:.4f}: resting on the book",
                title="Order placed",
            )
        ticket = self.query_one(OrderTicket)
        ticket.clear_amount()
        ticket.show_preview(None)
        ticket.focus_amount()  # ready for the next order at the same price
        self.refresh_data()

    # -- actions --------------------------------------------------------------------------

    def action_new_order(self, side: str | None = None) -> None:
        """Into the ticket's amount field (on `side`, if given), from wherever b, s or n
        reach the screen (not from inside a field, which takes them): what is typed in
        the ticket stays."""
        if self.trading:
            ticket = self.query_one(OrderTicket)
            if side is not None:
                ticket.set_side(side)
            ticket.focus_amount()

    def action_choose_side(self, side: str) -> None:
        """The side, from inside the ticket, without leaving the field being typed in."""
        self.query_one(OrderTicket).set_side(side)

    def action_focus_ladder(self) -> None:
        self.query_one(PriceLadder).focus()

    def action_focus_orders(self) -> None:
        self.query_one("#orders", Table).focus()

    def action_leave_ticket(self) -> None:
        self.action_focus_orders()

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
                    then=lambda done: self.cancelled(done, order),
                    group="cancel",
                    exclusive=False,
                )

        self.app.push_screen(Confirm("Cancel this order?", detail, yes="Cancel order"), answered)

    def cancelled(self, order: OrderView, before: OrderView) -> None:
        """Say what the cancel gave back: a buy's WATT hold, a sell's kWh."""
        what = f"{order.side} {order.remaining:,.2f} kWh @ {order.price:.4f}"
        if order.side == "sell":
            released = f"{order.remaining:,.2f} kWh"
        elif order.filled == before.filled:  # the hold as last read is the one released
            released = f"{before.watt_reserved:,.2f} WATT"
        else:
            released = "the rest of its WATT"
        self.notify(f"Cancelled {what}: {released} released", title="Order cancelled")
        self.refresh_data()


def _why_not_placed(exc: BaseException) -> str:
    if isinstance(exc, DatabaseBusy):  # the bridge's word for a lock wait that ran out
        return BUSY
    if isinstance(exc, EnergyError):
        return str(exc)
    return "something went wrong; details are in the log file"  # logged by the app
