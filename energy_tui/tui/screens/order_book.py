"""The trader's home: price ladder, order ticket, my orders, the trade tape (and today's
chart on a wide terminal). The work on my orders is in `book_orders.TradingScreen`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Input, Static

from energy_tui import clock
from energy_tui.errors import EnergyError
from energy_tui.services import prosumers
from energy_tui.services.market import OrderRequest, guard, place_order, stats
from energy_tui.services.market import book as market
from energy_tui.services.market.book import Book, Preview, TradeView
from energy_tui.services.market.stats import Candle
from energy_tui.services.market.views import Fill, OrderView, PlaceResult
from energy_tui.services.permissions import Action
from energy_tui.tui.bindings import UNLISTED, crowded, roomy
from energy_tui.tui.screens.book_orders import TradingScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.ladder import PriceLadder, summary
from energy_tui.tui.widgets.my_orders import MyOrders
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.tables import Table
from energy_tui.tui.widgets.ticket import OrderTicket
from energy_tui.tui.widgets.today_chart import BUCKET_SECONDS, TodayChart

DEPTH = 30  # levels a side read at most: as many as the ladder's height holds
TAPE = 30
SHORT, NARROW = 34, 100  # terminal rows and columns below which the screen compacts
WIDE = 160  # columns from which today's price chart sits beside the tape
TALL = 44  # rows from which the book gets three quarters of the height
MY_ORDER_KEYS = 120  # columns from which the footer lists a, x and h (in my orders)
EMPTY_BOOK = "No orders yet: be the first — type an amount and a price"
EMPTY_BOOK_VIEWER = "No orders yet"  # a viewer has no ticket to type into


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the screen shows, read in one worker call."""

    book: Book
    tape: list[TradeView]
    orders: list[OrderView]
    mine: list[TradeView]
    balances: prosumers.Balances | None
    candles: list[Candle] | None  # today's quarter hours, read only for the wide chart
    history: list[OrderView] | None = None  # all my orders, read only while shown


def load_snapshot(
    address: str | None, chart: bool = False, history: bool = False, depth: int = DEPTH
) -> Snapshot:
    """The book's `depth` levels a side (with my size on them), the tape, my orders,
    fills and balances; today's candles too when the chart is shown, my order history
    when it is. The deeper levels cost most of the book's query: only those the ladder
    shows are read."""
    book = market.book(depth, address)
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
        market.order_history(address) if history else None,
    )


def _tape_cells(t: TradeView) -> tuple[object, ...]:
    style = "green" if t.taker_side == "buy" else "red"
    return (
        t.executed_at.strftime("%H:%M:%S"),
        Text(f"{t.price:.4f}", style=style),
        Text(f"{t.amount:,.2f}", justify="right"),
        t.taker_side or "",
    )


def _today(seconds: int) -> list[Candle]:
    midnight = dt.datetime.combine(clock.now().date(), dt.time())
    return stats.candles(seconds, midnight)


class OrderBookScreen(TradingScreen):
    BINDINGS = [
        Binding("b", "new_order('buy')", "Buy"),
        Binding("s", "new_order('sell')", "Sell"),
        Binding("n", "new_order", "New order", show=False),
        Binding("c", "cancel_order", "Cancel"),
        *roomy("a", "amend_order", "Amend"),
        *roomy("x", "cancel_all", "Cancel all"),
        *roomy("h", "toggle_history", "History"),
        Binding("o", "focus_orders", "Orders"),
        Binding("l", "focus_ladder", "Ladder"),
        Binding("r", "refresh", "Refresh", show=False),
        # A field of the ticket takes every printable key (b and s type into it): there
        # these choose the side and the order type, and Esc leaves the ticket (or the
        # amendment) for b, s, c and o.
        Binding("f7", "choose_side('buy')", "Buy"),
        Binding("f8", "choose_side('sell')", "Sell"),
        *roomy("f10", "order_type", "Order type"),  # F9 is the app's (price alerts)
        Binding("escape", "leave_ticket", "Leave ticket"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.last_fill_seq: int | None = None
        self.snapshot: Snapshot | None = None
        self.trading = False  # a ticket and orders of one's own (follow_role)
        self.balances_text = ""
        self.depth_read = 0  # levels a side the last refresh asked for

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
        yield MyOrders(id="orders-pane", classes="pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#ladder-pane").border_title = "Order book"
        self.query_one("#ticket-pane").border_title = "Order ticket"
        self.query_one("#tape-pane").border_title = "Trades"
        self.query_one("#chart-pane").border_title = "Today"
        self.query_one("#tape", Table).add_columns("Time", "Price", "kWh", "Taker")
        self.follow_role()
        self.query_one(OrderTicket).show_preview(None)
        self.query_one("#ladder-empty").display = False  # until a snapshot says it is
        super().on_mount()

    def follow_role(self) -> None:
        """A ticket and orders only for someone who trades for a prosumer, as they are now."""
        self.trading = self.energy.can(Action.TRADE_OWN) and self.address is not None
        self.query_one("#ticket-pane").display = self.trading
        self.query_one("#orders-pane").display = self.trading
        self.set_class(self.trading, "-trading")  # a short screen gives the tape to the ticket
        self.query_one("#ladder-empty", Static).update(
            EMPTY_BOOK if self.trading else EMPTY_BOOK_VIEWER
        )
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
        if action in ("new_order", "cancel_order"):
            return self.trading
        if action == "focus_orders":  # not shown while there, as l on the ladder
            return self.trading and not self._in(MyOrders)
        if action in ("amend_order", "cancel_all", "toggle_history"):
            # listed while in my orders, on 120 columns or more; they work anywhere
            listed = parameters != (UNLISTED,)
            if listed and (not self._in(MyOrders) or crowded(self, parameters, MY_ORDER_KEYS)):
                return False
            return self.trading
        if action == "choose_side":
            return self.trading and isinstance(self.focused, Input) and self._in_ticket()
        if action == "order_type":
            return self.trading and self._in_ticket() and not crowded(self, parameters)
        if action == "focus_ladder":  # not shown while there: the footer is short at 80
            return not isinstance(self.focused, PriceLadder)
        if action == "leave_ticket":
            return self.trading and self._in_ticket()
        return True

    def _in_ticket(self) -> bool:
        return self._in(OrderTicket)

    def _in(self, kind: type) -> bool:
        focused = self.focused
        return focused is not None and any(isinstance(n, kind) for n in focused.ancestors)

    def refresh_data(self) -> None:
        if self.energy.session is not None:
            chart = self.has_class("-wide")
            history = self.query_one(MyOrders).view == "history"
            self.depth_read = min(DEPTH, self.query_one(PriceLadder).fits())
            self.run_db(
                load_snapshot,
                self.address,
                chart,
                history,
                self.depth_read,
                then=self.show_snapshot,
                group="snapshot",
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
        my_orders = self.query_one(MyOrders)
        my_orders.show_open(snap.orders, lambda o: market.why_not_matched(o, snap.book))
        if snap.history is not None:
            my_orders.show_history(snap.history)
        self._show_balances(snap.balances)
        self.toast_fills(snap.mine, quiet_first=True)
        if self.trading:  # the book moved: what the typed order would do moved with it
            self._preview(self.query_one(OrderTicket).current())

    def _show_tape(self, trades: list[TradeView]) -> None:
        self.query_one("#tape", Table).sync_values(((str(t.seq), t) for t in trades), _tape_cells)

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
        balances = self.query_one("#balances", Static)
        if text != self.balances_text:  # parsing its markup again costs a millisecond
            self.balances_text = text
            balances.update(text)

    def toast_fills(self, fills: Iterable[TradeView | Fill], *, quiet_first: bool = False) -> None:
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

    @on(PriceLadder.Resized)
    def ladder_resized(self, event: PriceLadder.Resized) -> None:
        if min(DEPTH, event.fits) != self.depth_read:
            # taller: the levels it now has room for were not read; shorter (or the first
            # layout after a read made before it, which guessed): read only what it shows
            self.refresh_data()

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
        """What the order as typed would do now (an amendment says what it changes
        instead, without the database). A market order without a cap and without a
        default one says why in the preview."""
        ticket = self.query_one(OrderTicket)
        if ticket.amending is not None:
            return
        if request is None:
            ticket.show_preview(None)
            return
        address, bridge = self.address, self.energy.bridge
        market_order = request.kind == "market"

        def job() -> None:
            try:
                preview = bridge.call(
                    market.preview,
                    address,
                    request.side,
                    request.amount,
                    request.price,
                    market=market_order,
                )
            except EnergyError as exc:
                self.app.call_from_thread(self._no_preview, request, str(exc))
                return
            self.app.call_from_thread(self._show_preview, preview)

        self.run_worker(job, thread=True, group="preview", exclusive=True, exit_on_error=False)

    def _show_preview(self, preview: Preview) -> None:
        ticket = self.query_one(OrderTicket)
        if ticket.matches(preview):  # not an answer about what was typed before
            ticket.show_preview(preview)

    def _no_preview(self, request: OrderRequest, why: str) -> None:
        ticket = self.query_one(OrderTicket)
        if ticket.current() == request:
            ticket.show_preview_error(why)

    @on(OrderTicket.Submitted)
    def submit(self, event: OrderTicket.Submitted) -> None:
        """Ask the guard first: an order far from the market or large against the
        balance is placed only once confirmed."""
        if self.placing:  # a second Enter while the first is on its way: one order
            return
        if self.query_one(OrderTicket).amending is not None:
            self.amend(event.request)  # the service asks the guard
            return
        self.placing = True
        request, address, rules = event.request, self.address, self.energy.rules
        self._ticket_job(
            lambda b: b.call(guard.check, address, request, rules),
            lambda caution: self._guarded(caution, request),
        )

    def _guarded(self, caution: guard.Caution, request: OrderRequest) -> None:
        """Placed as typed; a market order without a cap at the default cap its preview
        showed (`OrderTicket.with_shown_cap`), the one the guard judged and asked about."""
        if not caution.needs_confirmation:
            self.place(request)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.place(request)
            else:
                self.placing = False  # back to the ticket, as typed

        self.app.push_screen(ConfirmOrder(caution), answered)

    def place(self, request: OrderRequest) -> None:
        actor = self.energy.actor
        self._ticket_job(lambda b: b.call(place_order, actor, request), self.placed)

    def placed(self, result: PlaceResult) -> None:
        """A toast per fill, and one for what became of the rest."""
        self.placing = False
        o = result.order
        self.toast_fills(result.fills)
        if o.time_in_force == "fok" and not o.filled:
            why = f": {o.reason}" if o.reason else ""
            self.notify(f"FOK: nothing filled, nothing held{why}", title="Order killed")
        elif o.kind == "market" and o.remaining:
            self.notify(
                f"Market: {o.filled:,.2f} of {o.amount:,.2f} kWh filled, "
                f"{o.remaining:,.2f} cancelled (nothing more within cap {o.price:.4f})",
                title="Order placed",
            )
        elif o.time_in_force == "ioc" and o.remaining:
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

    def action_order_type(self, _unlisted: str = "") -> None:
        """The ticket's next order type, from inside a field (F10)."""
        self.query_one(OrderTicket).next_order_type()

    def action_focus_ladder(self) -> None:
        self.query_one(PriceLadder).focus()

    def action_focus_orders(self) -> None:
        self.query_one(MyOrders).table.focus()

    def action_leave_ticket(self) -> None:
        """Out of the ticket; out of an amendment first (back to the orders)."""
        self.stop_amending()
        self.action_focus_orders()

    def action_refresh(self) -> None:
        self.refresh_data()
