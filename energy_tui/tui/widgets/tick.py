"""A checkbox whose state reads without colour."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox

TICKED, UNTICKED = "✓", " "


class Tick(Checkbox):
    """Textual's checkbox shows the same "X" ticked or not, only its colour differs: this
    one shows ✓ when ticked and nothing when not (as the side toggle's ● and ○ read
    without colour)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.BUTTON_INNER = TICKED if self.value else UNTICKED

    def watch_value(self) -> None:
        self.BUTTON_INNER = TICKED if self.value else UNTICKED
        super().watch_value()
