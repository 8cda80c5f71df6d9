"""A yes/no question, answered with y/n, Enter/Esc or the mouse.

A `safe` question (replace a file, say) opens on No: Enter then answers No, and only
y (or a click on the yes button) says yes."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Confirm(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        Binding("enter", "answer_default", "Default", show=False),
    ]

    def __init__(
        self, question: str, detail: str = "", yes: str = "Yes", *, safe: bool = False
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
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no" if self.safe else "#yes", Button).focus()

    def action_answer_default(self) -> None:
        self.dismiss(not self.safe)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
