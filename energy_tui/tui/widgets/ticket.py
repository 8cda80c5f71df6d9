"""The order ticket: side, amount, price, IOC; inline validation and a live preview."""

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
from energy_tui.tui.widgets.side_toggle import SideToggle

FIELDS = {"amount": amount_value, "price": price_value}


class NumberInput(Input):
    """A compact field for a decimal. Like any Input it takes every printable key while
    it has focus (no key is dropped, none reaches the screen's bindings): what is typed
    is checked by the one number parser, and a field it refuses is marked with why."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(compact=True, **kwargs)


class OrderTicket(Vertical):
    """Posts `Changed` (a valid request, or None) as the user types and `Submitted`
    on Enter or the Place button. The screen does the database work and the side keys.
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

    def compose(self) -> ComposeResult:
        yield SideToggle(id="side")
        with Horizontal(classes="ticket-row"):
            yield Label("kWh", classes="ticket-label")
            yield NumberInput(placeholder="amount", id="amount")
        yield Static("", id="amount-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Label("Price", classes="ticket-label")
            yield NumberInput(placeholder="WATT/kWh", id="price")
        yield Static("", id="price-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Checkbox("IOC", id="ioc", tooltip="Immediate or cancel: never rests")
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
        self.query_one(SideToggle).side = side

    def take(self, side: str, price: Decimal) -> None:
        """An order on `side` at `price` (a level picked on the ladder), the amount
        typed so far kept: into the amount field, ready for Enter."""
        self.set_side(side)
        self.query_one("#price", Input).value = f"{price:.4f}"
        self.focus_amount()

    def focus_amount(self) -> None:
        amount = self.query_one("#amount", Input)
        amount.focus()
        amount.action_end()

    def current(self) -> OrderRequest | None:
        """Check each typed field on its own, then the order as a whole, marking each bad
        field with its reason; None if any is bad or empty."""
        raw = {field: self.query_one(f"#{field}", Input).value for field in FIELDS}
        errors = {field: _field_error(check, raw[field]) for field, check in FIELDS.items()}
        request = None
        if all(raw.values()) and not any(errors.values()):
            try:
                request = order_request(
                    self.side,
                    raw["amount"],
                    raw["price"],
                    self.rules,
                    ioc=self.query_one("#ioc", Checkbox).value,
                )
            except ValidationError as exc:
                errors[exc.field if exc.field in errors else "amount"] = str(exc)
        for field, message in errors.items():
            label = self.query_one(f"#{field}-error", Static)
            label.update(Text(message))  # as typed: never read as markup
            label.display = bool(message)
            self.query_one(f"#{field}", Input).set_class(bool(message), "-invalid")
        self.query_one("#place", Button).disabled = request is None
        return request

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(SideToggle.Changed)
    def changed(self) -> None:
        self.show_error("")
        self.post_message(self.Changed(self.current()))

    @on(Input.Submitted)
    @on(Button.Pressed, "#place")
    def submit(self) -> None:
        request = self.current()
        if request is not None:
            self.post_message(self.Submitted(request))

    def clear_amount(self) -> None:
        self.query_one("#amount", Input).value = ""

    def show_preview(self, preview: Preview | None) -> None:
        self.query_one("#preview", Static).update(_describe(preview))

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
        return request is not None and (request.side, request.amount, request.price) == (
            preview.side,
            preview.amount,
            preview.price,
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


def _describe(p: Preview | None) -> str:
    if p is None:
        return "Type an amount and a price to see the cost."
    lines = []
    if p.side == "buy":
        lines.append(
            f"Cost {p.base_cost:,.2f} + grid fee {p.fee:,.2f} = [b]{p.total:,.2f}[/b] WATT"
        )
        word = "saves" if p.savings >= 0 else "costs"
        lines.append(f"vs grid {p.grid_cost:,.2f}: {word} {abs(p.savings):,.2f} WATT")
        have = f"available {p.available:,.2f} WATT"
    else:
        lines.append(f"Proceeds at limit [b]{p.total:,.2f}[/b] WATT")
        have = f"available {p.available:,.2f} kWh"
    if p.fill_now:
        lines.append(
            f"Fills now {p.fill_now:,.2f} kWh @ avg {p.fill_price:.4f} ({p.fill_cost:,.2f} WATT)"
        )
    elif p.own_cross is not None:
        lines.append("No other trader's order crosses now")
    else:
        lines.append("Would rest on the book (nothing crosses now)")
    if p.own_cross is not None:
        other = "sell" if p.side == "buy" else "buy"
        lines.append(
            f"[red]Would cross your own {other} at {p.own_cross:.4f}: cancel it first[/red]"
        )
    elif not p.enough:
        lines.append(f"[red]Not enough: {have}[/red]")
    else:
        lines.append(f"[dim]{have}[/dim]")
    return "\n".join(lines)
