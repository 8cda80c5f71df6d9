"""Limit or Market, on one line beside the side: the ticket's kind of order."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

LABELS = {"limit": " Limit ", "market": " Market "}


class KindToggle(Widget, can_focus=True):
    """The chosen kind lit; Left/Right or Space switch, a click picks the one under the
    pointer (F10 from anywhere in the ticket, a binding of the screen)."""

    DEFAULT_CSS = """
    KindToggle { height: 1; width: auto; }
    KindToggle > .kind-toggle--on { background: $primary 70%; color: $text; text-style: bold; }
    KindToggle > .kind-toggle--off { color: $text-muted; }
    KindToggle:focus > .kind-toggle--off { color: $text; }
    """
    COMPONENT_CLASSES = {"kind-toggle--on", "kind-toggle--off"}
    BINDINGS = [Binding("left,right,space", "switch_kind", "Limit/Market", show=False)]

    kind: reactive[str] = reactive("limit")

    @dataclasses.dataclass
    class Changed(Message):
        kind: str

    def render(self) -> Text:
        text = Text()
        for kind, label in LABELS.items():
            lit = "kind-toggle--on" if kind == self.kind else "kind-toggle--off"
            text.append(label, style=self.get_component_rich_style(lit))
        return text

    def get_content_width(self, container, viewport) -> int:  # type: ignore[no-untyped-def]
        return sum(map(len, LABELS.values()))

    def watch_kind(self, kind: str) -> None:
        self.post_message(self.Changed(kind))

    def action_switch_kind(self) -> None:
        self.kind = "market" if self.kind == "limit" else "limit"

    def on_click(self, event: events.Click) -> None:
        self.kind = "limit" if event.x < len(LABELS["limit"]) else "market"
