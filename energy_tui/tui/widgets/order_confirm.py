"""The fat-finger guard's question: the order, its full cost and why it is asked.

It behaves as the app's Confirm dialog: it opens on the safe choice (go back), Enter
presses the focused button, `y` places, `n` or Esc goes back with the ticket as typed.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from energy_tui.services.market.guard import Caution


class ConfirmOrder(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Place order"),
        Binding("n,escape", "answer(False)", "Go back"),
    ]

    def __init__(self, caution: Caution, verb: str = "Place") -> None:
        super().__init__()
        self.caution, self.verb = caution, verb  # "Amend": the order as it would become

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog order-confirm"):
            yield Label(f"{self.verb} this order?", classes="form-title")
            yield Static(describe(self.caution), id="order-summary")
            yield Static(why(self.caution), id="order-why")
            with Horizontal(classes="buttons"):
                yield Button("Go back (n)", id="back", variant="primary")
                yield Button(f"{self.verb} order (y)", id="place-anyway", variant="error")

    def on_mount(self) -> None:
        self.query_one("#back", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "place-anyway")


def describe(c: Caution) -> str:
    r = c.request
    tif = f" ({r.time_in_force.upper()})" if r.time_in_force != "gtc" else ""
    if r.kind == "market":  # the guard judged it at its cap
        head = f"[b]Market {r.side} {r.amount:,.2f} kWh, cap {r.price:.4f}[/b] WATT/kWh{tif}"
    else:
        head = f"[b]{r.side.title()} {r.amount:,.2f} kWh @ {r.price:.4f}[/b] WATT/kWh{tif}"
    if r.side == "buy":
        cost = (
            f"Cost {c.base_cost:,.2f} + grid fee {c.fee:,.2f} = [b]{c.commit:,.2f} WATT[/b]"
            f" of {c.available:,.2f} available"
        )
    else:
        cost = (
            f"Proceeds at the limit [b]{c.base_cost:,.2f} WATT[/b]; "
            f"it holds {c.commit:,.2f} of {c.available:,.2f} kWh available"
        )
    return f"{head}\n{cost}"


def why(c: Caution) -> str:
    return "Asked because:\n" + "\n".join(f"• {reason}" for reason in c.reasons)
