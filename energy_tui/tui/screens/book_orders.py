"""The order book screen's work on my orders, kept out of its layout: cancel one, cancel
all (with what it releases), amend one through the ticket (the fat-finger question as
for placing), the history and an order's fills; and the worker that runs the ticket's
database calls, saying whatever stops them in the ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from energy_tui.errors import DatabaseBusy, DatabaseUnavailable, EnergyError
from energy_tui.services.market import OrderRequest, amend_order, cancel_all, cancel_order
from energy_tui.services.market import book as market
from energy_tui.services.market.guard import Unconfirmed
from energy_tui.services.market.views import CancelAll, OrderView, PlaceResult
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.my_orders import MyOrders
from energy_tui.tui.widgets.order_confirm import ConfirmOrder
from energy_tui.tui.widgets.order_fills import OrderFills
from energy_tui.tui.widgets.ticket import OrderTicket

T = TypeVar("T")
BUSY = "the market is busy, try again"
NOTHING_SELECTED = "No open order selected: move to one with o, then j/k."


class TradingScreen(DataScreen):
    """A DataScreen with an order ticket and my orders (OrderBookScreen)."""

    placing = False  # an order (or amendment) between Enter and its outcome
    pending_amendment: OrderRequest | None = None  # sent, maybe stopped by the guard

    # -- the ticket's database calls ------------------------------------------------------

    def _ticket_job(self, work: Callable[[Any], T], then: Callable[[T], None]) -> None:
        """Run `work(bridge)` in a thread worker; whatever stops it is said in the ticket,
        with the fields kept. A server that does not answer also raises the app's banner,
        and an unexpected error is logged by the app's handler. An amendment the guard
        stopped asks its question instead."""
        bridge = self.energy.bridge

        def job() -> None:
            try:
                result = work(bridge)
            except Unconfirmed as exc:
                self.app.call_from_thread(self._confirm_amendment, exc)
                return
            except Exception as exc:
                self.app.call_from_thread(self.not_placed, why_not_placed(exc))
                if isinstance(exc, DatabaseUnavailable) or not isinstance(exc, EnergyError):
                    raise
                return
            self.app.call_from_thread(then, result)

        self.run_worker(job, thread=True, group="place", exclusive=False, exit_on_error=False)

    def not_placed(self, why: str) -> None:
        self.placing = False
        ticket = self.query_one(OrderTicket)
        ticket.show_error(f"Not {'amended' if ticket.amending else 'placed'}: {why}")

    # -- amend ----------------------------------------------------------------------------

    def action_amend_order(self, _unlisted: str = "") -> None:
        """The ticket opens on the selected open order: change its amount or price."""
        order = self.query_one(MyOrders).selected_open()
        if order is None:
            self.notify(NOTHING_SELECTED, severity="warning")
            return
        self.query_one(OrderTicket).amend(order)
        self.query_one("#ticket-pane").border_title = "Amend order"

    def stop_amending(self) -> None:
        self.query_one(OrderTicket).stop_amending()
        self.query_one("#ticket-pane").border_title = "Order ticket"

    def amend(self, request: OrderRequest, *, confirmed: bool = False) -> None:
        """Send what changed (the unchanged part as None: a price typed as it was is not
        a new price, and keeps the order's place)."""
        order = self.query_one(OrderTicket).amending
        assert order is not None
        self.placing = True
        actor, oid = self.energy.actor, order.id
        price = None if request.price == order.price else request.price
        amount = None if request.amount == order.amount else request.amount

        def work(bridge: Any) -> PlaceResult:
            return bridge.call(
                amend_order,
                actor,
                oid,
                price=price,
                amount=amount,
                confirmed=confirmed,
                expected=(order.price, order.amount),  # as the user saw it
            )

        self.pending_amendment = request
        self._ticket_job(work, lambda result: self.amended(result, order))

    def _confirm_amendment(self, stopped: Unconfirmed) -> None:
        request = self.pending_amendment
        assert request is not None

        def answered(yes: bool | None) -> None:
            self.placing = False
            if yes:
                self.amend(request, confirmed=True)

        self.app.push_screen(ConfirmOrder(stopped.caution, verb="Amend"), answered)

    def amended(self, result: PlaceResult, before: OrderView) -> None:
        self.placing = False
        after = result.order
        kept = after.price == before.price and after.amount < before.amount
        place = "kept its place in the queue" if kept else "back of the queue at its price"
        what = f"{after.side} {after.amount:,.2f} kWh @ {after.price:.4f}"
        self.notify(f"Amended to {what}: {place}", title="Order amended")
        self.toast_fills(result.fills)
        self.stop_amending()
        self.query_one(MyOrders).table.focus()
        self.refresh_data()

    def toast_fills(self, fills: Any) -> None:
        """A toast per fill (OrderBookScreen's)."""

    # -- cancel ---------------------------------------------------------------------------

    def action_cancel_order(self) -> None:
        order = self.query_one(MyOrders).selected_open()
        if order is None:
            self.notify(NOTHING_SELECTED, severity="warning")
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

    def action_cancel_all(self, _unlisted: str = "") -> None:
        """Ask with the count and what it releases, as read now; then cancel them all."""
        address = self.actor.prosumer_address
        self.run_db(market.open_summary, address, then=self._ask_cancel_all, group="cancel")

    def _ask_cancel_all(self, summary: market.OpenSummary) -> None:
        if not summary.count:
            self.notify("No open orders to cancel.", severity="warning")
            return
        orders = f"{summary.count} open order{'s' if summary.count > 1 else ''}"
        held = [
            f"{amount:,.2f} {unit}"
            for amount, unit in ((summary.watt_reserved, "WATT"), (summary.energy_reserved, "kWh"))
            if amount
        ]
        detail = f"Cancels {orders}, releasing {' and '.join(held) or 'nothing held'}"

        def answered(yes: bool | None) -> None:
            if yes:  # exactly the orders counted: none placed since (another terminal, a bot)
                actor, seen = self.energy.actor, summary.up_to_placed_seq
                self.run_db(cancel_all, actor, None, seen, then=self.cancelled_all, group="cancel")

        self.app.push_screen(Confirm(f"Cancel all {orders}?", detail, yes="Cancel all"), answered)

    def cancelled_all(self, done: CancelAll) -> None:
        newer = ""
        if done.left_newer:
            placed = "was" if done.left_newer == 1 else "were"
            newer = (
                f"; {done.left_newer} order{'s' if done.left_newer != 1 else ''} placed "
                f"since the question {placed} left open"
            )
        self.notify(
            f"Cancelled {done.count} order{'s' if done.count != 1 else ''}: "
            f"{done.released_watt:,.2f} WATT and {done.released_energy:,.2f} kWh released"
            f"{newer}",
            title="Orders cancelled",
        )
        self.refresh_data()

    # -- history --------------------------------------------------------------------------

    def action_toggle_history(self, _unlisted: str = "") -> None:
        self.query_one(MyOrders).switch()
        self.refresh_data()  # the history is read while it is shown

    def on_my_orders_fills_wanted(self, event: MyOrders.FillsWanted) -> None:
        order = event.order
        self.run_db(
            market.order_fills,
            order.id,
            then=lambda fills: self._show_fills(order, fills),
            group="fills",
        )

    def _show_fills(self, order: OrderView, fills: list[market.TradeView]) -> None:
        self.app.push_screen(OrderFills(order, fills))


def why_not_placed(exc: BaseException) -> str:
    if isinstance(exc, DatabaseBusy):  # the bridge's word for a lock wait that ran out
        return BUSY
    if isinstance(exc, EnergyError):
        return str(exc)
    return "something went wrong; details are in the log file"  # logged by the app
