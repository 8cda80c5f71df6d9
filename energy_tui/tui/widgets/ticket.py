"""The order ticket: side, amount, price, IOC; inline validation and a live preview."""

from __future__ import annotations

import dataclasses

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Static

from energy_tui.errors import ValidationError
from energy_tui.services.market import MarketRules, OrderRequest, order_request
from energy_tui.services.market.book import Preview
from energy_tui.tui.widgets.side_toggle import SideToggle

NUMBER = r"[0-9.]*"


class NumberInput(Input):
    """A compact field for a decimal. It takes digits and a point only and leaves the
    other printable keys to the bindings around it (the book screen's B, S, O and C,
    the app's ?), which a plain Input would swallow."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(restrict=NUMBER, compact=True, **kwargs)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and (character.isdigit() or character == ".")

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and not self.check_consume_key(event.key, event.character):
            event.prevent_default()  # skip Input's handler; the key bubbles on


class OrderTicket(Vertical):
    """Posts `Changed` (a valid request, or None) as the user types and `Submitted`
    on Enter or the Place button. The screen does the database work (and binds B and S,
    which its fields leave alone, to choosing the side).
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

    def compose(self) -> ComposeResult:
        yield SideToggle(id="side")
        with Horizontal(classes="ticket-row"):
            yield Label("kWh", classes="ticket-label")
            yield NumberInput(placeholder="amount", id="amount", max_length=17)
        yield Static("", id="amount-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Label("Price", classes="ticket-label")
            yield NumberInput(placeholder="WATT/kWh", id="price", max_length=12)
        yield Static("", id="price-error", classes="field-error")
        with Horizontal(classes="ticket-row"):
            yield Checkbox("IOC", id="ioc", tooltip="Immediate or cancel: never rests")
            yield Button(
                "Place (Enter)", id="place", variant="primary", disabled=True, compact=True
            )
        yield Static("", id="preview", classes="preview")

    def on_mount(self) -> None:
        for label in self.query(".field-error"):
            label.display = False

    @property
    def side(self) -> str:
        return self.query_one(SideToggle).side

    def set_side(self, side: str) -> None:
        self.query_one(SideToggle).side = side

    def focus_amount(self) -> None:
        amount = self.query_one("#amount", Input)
        amount.focus()
        amount.action_end()

    def current(self) -> OrderRequest | None:
        """Validate the fields, marking each bad one; None if any is bad or empty."""
        errors: dict[str, str] = {"amount": "", "price": ""}
        request = None
        amount = self.query_one("#amount", Input).value
        price = self.query_one("#price", Input).value
        if amount and price:
            try:
                request = order_request(
                    self.side, amount, price, self.rules, ioc=self.query_one("#ioc", Checkbox).value
                )
            except ValidationError as exc:
                errors[exc.field if exc.field in errors else "amount"] = str(exc)
        for field, message in errors.items():
            label = self.query_one(f"#{field}-error", Static)
            label.update(message)
            label.display = bool(message)
            self.query_one(f"#{field}", Input).set_class(bool(message), "-invalid")
        self.query_one("#place", Button).disabled = request is None
        return request

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(SideToggle.Changed)
    def changed(self) -> None:
        self.post_message(self.Changed(self.current()))

    @on(Input.Submitted)
    @on(Button.Pressed, "#place")
    def submit(self) -> None:
        request = self.current()
        if request is not None:
            self.post_message(self.Submitted(request))

    def clear_amount(self) -> None:
        self.query_one("#amount", Input).value = ""

    def show_preview(self, preview: Preview | None, error: str = "") -> None:
        self.query_one("#preview", Static).update(error or _describe(preview))


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
    else:
        lines.append("Would rest on the book (nothing crosses now)")
    if p.own_cross is not None:
        lines.append(f"[red]Crosses your own order at {p.own_cross:.4f}: cancel it first[/red]")
    elif not p.enough:
        lines.append(f"[red]Not enough: {have}[/red]")
    else:
        lines.append(f"[dim]{have}[/dim]")
    return "\n".join(lines)
