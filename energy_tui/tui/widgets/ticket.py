"""The order ticket: side, Limit/Market, amount, price (a market order's optional cap),
IOC/FOK; inline validation and a live preview. It also amends an open order of mine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Static

from energy_tui.errors import ValidationError
from energy_tui.services.market import MarketRules, OrderRequest, order_request
from energy_tui.services.market.book import Preview
from energy_tui.services.market.orders import amount_value, price_value
from energy_tui.services.market.views import OrderView
from energy_tui.tui.widgets.fields import TextField
from energy_tui.tui.widgets.kind_toggle import KindToggle
from energy_tui.tui.widgets.side_toggle import SideToggle
from energy_tui.tui.widgets.tick import Tick
from energy_tui.tui.widgets.ticket_text import describe, describe_amend

FIELDS = {"amount": amount_value, "price": price_value}
# (kind, time in force) in the order F10 steps through them; a market order is immediate
ORDER_TYPES = [
    ("limit", "gtc"),
    ("limit", "ioc"),
    ("limit", "fok"),
    ("market", "ioc"),
    ("market", "fok"),
]


class NumberInput(TextField):
    """A compact field for a decimal. Like any Input it takes every printable key while
    it has focus (no key is dropped, none reaches the screen's bindings): what is typed
    is checked by the one number parser, and a field it refuses is marked with why.
    Backspace and Enter apply in the order typed among the characters (fields.py)."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(compact=True, **kwargs)


class OrderTicket(Vertical):
    """Posts `Changed` (a valid request, or None) as the user types and `Submitted`
    on Enter or the Place button. The screen does the database work and the side keys.
    While `amending` an open order, the side and kind are that order's and fixed.
    """

    @dataclasses.dataclass
    class Changed(Message):
        request: OrderRequest | None

    @dataclasses.dataclass
    class Submitted(Message):
        request: OrderRequest

    def __init__(self, rules: MarketRules, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.rules = rules
        self.error = ""  # why the last order was not placed, while it is shown
        self.amending: OrderView | None = None
        self.shown: Preview | None = None  # the preview on screen (its default cap)
        self.field_errors = dict.fromkeys(FIELDS, "")  # shown under each field

    def compose(self) -> ComposeResult:
        with Horizontal(classes="ticket-row side-row"):
            yield SideToggle(id="side")
            yield KindToggle(id="kind")
        with Horizontal(classes="ticket-row"):
            yield Label("kWh", classes="ticket-label")
            yield NumberInput(placeholder="amount", id="amount")
        yield Static("", id="amount-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Label("Price", classes="ticket-label", id="price-label")
            yield NumberInput(placeholder="WATT/kWh", id="price")
        yield Static("", id="price-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Tick("IOC", id="ioc", tooltip="Immediate or cancel: never rests")
            yield Tick("FOK", id="fok", tooltip="Fill or kill: all at once, or nothing")
            yield Button(
                "Place (Enter)", id="place", variant="primary", disabled=True, compact=True
            )
        yield Static("", id="order-error", classes="field-error")
        yield Static("", id="preview", classes="preview")

    def on_mount(self) -> None:
        for label in self.query(".field-error"):
            label.display = False

    @property
    def side(self) -> str:
        return self.query_one(SideToggle).side

    def set_side(self, side: str) -> None:
        if self.amending is None:
            self.query_one(SideToggle).side = side

    @property
    def kind(self) -> str:
        return self.query_one(KindToggle).kind

    @property
    def time_in_force(self) -> str:
        if self.query_one("#fok", Checkbox).value:
            return "fok"
        return "ioc" if self.query_one("#ioc", Checkbox).value else "gtc"

    def set_kind(self, kind: str) -> None:
        """Limit or market (not while amending: an amendment keeps the order's kind)."""
        if self.amending is None:
            self.query_one(KindToggle).kind = kind

    def next_order_type(self) -> None:
        """Limit -> Limit IOC -> Limit FOK -> Market -> Market FOK -> Limit."""
        if self.amending is not None:
            return
        now = (self.kind, self.time_in_force)
        following = ORDER_TYPES[(ORDER_TYPES.index(now) + 1) % len(ORDER_TYPES)]
        kind, tif = following if now in ORDER_TYPES else ORDER_TYPES[0]
        self.set_kind(kind)
        self.query_one("#fok", Checkbox).value = tif == "fok"
        self.query_one("#ioc", Checkbox).value = tif == "ioc"

    def take(self, side: str, price: Decimal) -> None:
        """An order on `side` at `price` (a level picked on the ladder), the amount
        typed so far kept: into the amount field, ready for Enter. It is a limit order
        at that price; an amendment in progress takes the price only."""
        self.set_side(side)
        self.set_kind("limit")
        self.query_one("#price", Input).value = f"{price:.4f}"
        self.focus_amount()

    def amend(self, order: OrderView) -> None:
        """Open on `order` to amend its amount or price."""
        self.stop_amending()
        self.query_one(SideToggle).side = order.side
        self.query_one(KindToggle).kind = "limit"
        for box in self.query(Checkbox):
            box.value = False
        self.amending = order
        self._lock_choices(True)
        self.query_one("#amount", Input).value = f"{order.amount}"
        self.query_one("#price", Input).value = f"{order.price:.4f}"
        self.query_one("#place", Button).label = "Amend (Enter)"
        price = self.query_one("#price", Input)
        price.focus()
        price.action_end()
        self.changed()

    def stop_amending(self) -> bool:
        """Back to placing new orders (fields emptied); False if it was not amending."""
        if self.amending is None:
            return False
        self.amending = None
        self._lock_choices(False)
        self.query_one("#place", Button).label = "Place (Enter)"
        for field in ("amount", "price"):
            self.query_one(f"#{field}", Input).value = ""
        self.changed()
        return True

    def _lock_choices(self, locked: bool) -> None:
        for widget in (
            self.query_one(SideToggle),
            self.query_one(KindToggle),
            *self.query(Checkbox),
        ):
            widget.disabled = locked

    def focus_amount(self) -> None:
        amount = self.query_one("#amount", Input)
        amount.focus()
        amount.action_end()

    def current(self, typed: dict[str, str] | None = None) -> OrderRequest | None:
        """Check each typed field on its own, then the order as a whole, marking each bad
        field with its reason; None if any is bad or empty (a market order's cap may be
        empty). `typed`: a field's value as it was at Enter."""
        raw = {field: self.query_one(f"#{field}", Input).value for field in FIELDS}
        raw.update(typed or {})
        errors = {field: _field_error(check, raw[field]) for field, check in FIELDS.items()}
        market = self.kind == "market"
        request = None
        if raw["amount"] and (raw["price"] or market) and not any(errors.values()):
            try:
                request = order_request(
                    self.side,
                    raw["amount"],
                    raw["price"] or None,
                    self.rules,
                    ioc=self.query_one("#ioc", Checkbox).value and not market,
                    fok=self.query_one("#fok", Checkbox).value,
                    market=market,
                )
            except ValidationError as exc:
                errors[exc.field if exc.field in errors else "amount"] = str(exc)
        for field, message in errors.items():
            # only when it changed: the order book asks on every refresh, and a label
            # updated is laid out again
            if message != self.field_errors[field]:
                self.field_errors[field] = message
                label = self.query_one(f"#{field}-error", Static)
                label.update(Text(message))  # as typed: never read as markup
                label.display = bool(message)
            self.query_one(f"#{field}", Input).set_class(bool(message), "-invalid")
        self.query_one("#place", Button).disabled = request is None
        return request

    @on(Checkbox.Changed, "#ioc,#fok")
    def one_time_in_force(self, event: Checkbox.Changed) -> None:
        """IOC and FOK exclude each other: ticking one unticks the other."""
        if event.value:
            other = "#fok" if event.checkbox.id == "ioc" else "#ioc"
            self.query_one(other, Checkbox).value = False

    @on(KindToggle.Changed)
    def kind_changed(self, event: KindToggle.Changed) -> None:
        """A market order is immediate (IOC unless FOK) and its price is an optional cap."""
        market = event.kind == "market"
        ioc = self.query_one("#ioc", Checkbox)
        ioc.value = market and not self.query_one("#fok", Checkbox).value
        ioc.disabled = market or self.amending is not None
        self.query_one("#price-label", Label).update("Cap" if market else "Price")
        self.query_one("#price", Input).placeholder = "optional" if market else "WATT/kWh"
        self.changed()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(SideToggle.Changed)
    def changed(self) -> None:
        self.show_error("")
        request = self.current()
        if self.amending is not None:
            self.show_amendment(request)
        self.post_message(self.Changed(request))

    def show_amendment(self, request: OrderRequest | None) -> None:
        if self.amending is None:
            return
        text = describe_amend(
            self.amending, request.amount if request else None, request.price if request else None
        )
        self.query_one("#preview", Static).update(text)

    @on(Input.Submitted)
    def entered(self, event: Input.Submitted) -> None:
        """Enter: the order as typed up to the Enter (keys that followed it in the same
        burst are not part of it)."""
        if event.input.id in FIELDS:
            self.submit({event.input.id: event.value})

    @on(Button.Pressed, "#place")
    def place_pressed(self) -> None:
        self.submit()

    def submit(self, typed: dict[str, str] | None = None) -> None:
        request = self.current(typed)
        if request is None:
            return
        if self.amending is None:
            request = self.with_shown_cap(request)
            if request.kind == "market" and request.price is None:
                # no cap typed and none shown yet: placing would set one nobody saw
                self.show_error(NO_CAP_SHOWN)
                return
        self.post_message(self.Submitted(request))

    def with_shown_cap(self, request: OrderRequest) -> OrderRequest:
        """A market order without a cap is placed at the default cap its preview shows
        (the one the trader saw), not one read again when it is placed; the market
        refuses it, saying why, if its price band has since left that cap. Before a
        preview of this order has shown one, as typed (`submit` then places nothing)."""
        shown = self.shown
        if request.kind != "market" or request.price is not None or shown is None:
            return request
        if shown.cap is None or not self.matches(shown):
            return request
        return dataclasses.replace(request, price=shown.cap, shown_cap=True)

    def clear_amount(self) -> None:
        self.query_one("#amount", Input).value = ""

    def show_preview(self, preview: Preview | None) -> None:
        self.shown = preview if self.amending is None else None
        if self.amending is None:  # an amendment says what it changes instead
            self.query_one("#preview", Static).update(describe(preview, self.kind == "market"))

    def show_preview_error(self, message: str) -> None:
        """Why there is no preview (a market order without a default cap, say so)."""
        self.shown = None
        if self.amending is None:
            self.query_one("#preview", Static).update(Text(message, style="bold"))

    def show_error(self, message: str) -> None:
        """Why the order was not placed, where the trader is looking; it stays until the
        ticket changes (a market refresh redraws the preview, not this)."""
        self.error = message
        label = self.query_one("#order-error", Static)
        label.update(Text(message, style="bold"))
        label.display = bool(message)

    def matches(self, preview: Preview) -> bool:
        """Whether `preview` is of the order as it is typed now (not of an older one)."""
        request = self.current()
        if request is None or (request.side, request.amount) != (preview.side, preview.amount):
            return False
        if request.kind != preview.kind:
            return False
        return request.price is None or request.price == preview.price


NO_CAP_SHOWN = (
    "no default cap shown yet for this market order: wait for the preview to show it, "
    "or type a cap; nothing was placed"
)


def _field_error(check: Callable[[str], object], raw: str) -> str:
    """The reason `raw` is refused, or "" (an empty field is not yet an error)."""
    if not raw:
        return ""
    try:
        check(raw)
    except ValidationError as exc:
        return str(exc)
    return ""
