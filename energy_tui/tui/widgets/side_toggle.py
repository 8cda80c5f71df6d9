"""Buy or Sell, on one line: the ticket's side, switched by key or click."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

LABELS = {"buy": " ● Buy ", "sell": " ● Sell "}
GAP = "  "


class SideToggle(Widget, can_focus=True):
    """The chosen side lit (green for buy, red for sell). Left/Right or Space switch,
    a click picks the side under the pointer; `side` is the one source of truth."""

    DEFAULT_CSS = """
    SideToggle { height: 1; width: auto; }
    SideToggle > .side-toggle--buy { background: $success 70%; color: $text; text-style: bold; }
    SideToggle > .side-toggle--sell { background: $error 70%; color: $text; text-style: bold; }
    SideToggle > .side-toggle--off { color: $text-muted; }
    SideToggle:focus > .side-toggle--off { color: $text; }
    """
    COMPONENT_CLASSES = {"side-toggle--buy", "side-toggle--sell", "side-toggle--off"}
    BINDINGS = [Binding("left,right,space", "switch_side", "Buy/Sell", show=False)]

    side: reactive[str] = reactive("buy")

    @dataclasses.dataclass
    class Changed(Message):
        side: str

    def render(self) -> Text:
        text = Text()
        for i, side in enumerate(LABELS):
            if i:
                text.append(GAP)
            lit = f"side-toggle--{side}" if side == self.side else "side-toggle--off"
            label = LABELS[side] if side == self.side else LABELS[side].replace("●", "○")
            text.append(label, style=self.get_component_rich_style(lit))
        return text

    def get_content_width(self, container, viewport) -> int:  # type: ignore[no-untyped-def]
        return sum(map(len, LABELS.values())) + len(GAP)

    def watch_side(self, side: str) -> None:
        self.post_message(self.Changed(side))

    def action_switch_side(self) -> None:
        self.side = "sell" if self.side == "buy" else "buy"

    def on_click(self, event: events.Click) -> None:
        self.side = "buy" if event.x < len(LABELS["buy"]) + len(GAP) // 2 else "sell"
