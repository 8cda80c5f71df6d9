"""A yes/no question that opens on the safe answer.

"No" has the focus, so Enter (often pressed by habit, or once too often) answers no.
Yes takes `y`, or a deliberate move to its button (Tab or an arrow, then Enter) or a
click; `n` and Esc answer no from anywhere. Only a harmless question may open on yes
(`safe=False`)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Confirm(ModalScreen[bool]):
    AUTO_FOCUS = ""  # on_mount focuses the answer Enter gives
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        Binding("left,up", "app.focus_previous", "Previous button", show=False),
        Binding("right,down", "app.focus_next", "Next button", show=False),
    ]

    def __init__(
        self, question: str, detail: str = "", yes: str = "Yes", *, safe: bool = True
    ) -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.safe = question, detail, yes, safe

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="form-title")
            if self.detail:
                yield Static(self.detail)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no" if self.safe else "#yes", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
