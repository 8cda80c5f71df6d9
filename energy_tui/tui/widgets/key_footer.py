"""The footer: the app's own keys always, the screen's while they fit.

Textual's footer lists the focused widget's and the screen's keys first and the app's
last, and cuts whatever passes the right edge: at 80 columns a screen with many keys
pushed Lock, Log out, Help and Quit off. This one lists the screen's keys, left to
right, only while they fit beside the app's keys and the palette key; the help (?)
lists every key.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

# The app's keys that the footer always keeps, in this order (as EnergyApp binds them).
GLOBAL_ACTIONS = ("help", "lock", "logout", "quit", "app.quit")
PALETTE_CLASS = "-command-palette"


class KeyFooter(Footer):
    """A Footer that drops the screen's keys that do not fit, never the app's."""

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        fixed = sorted(
            (k for k in keys if _action(k) in GLOBAL_ACTIONS or _is_palette(k)), key=_place
        )
        room = self.app.size.width - sum(self._width(k) for k in fixed)
        yield from self._fitting((k for k in keys if k not in fixed), room)
        yield from fixed

    def _fitting(self, keys: Iterable[Widget], room: int) -> Iterable[Widget]:
        """The keys, in order, up to the first that would pass the edge."""
        for key in keys:
            room -= self._width(key)
            if room < 0:
                return
            yield key

    def _width(self, key: Widget) -> int:
        """Cells the key takes in this footer (Textual's FooterKey styles)."""
        text = cell_len(getattr(key, "key_display", "")) + cell_len(getattr(key, "description", ""))
        if _is_palette(key):
            return text + 4  # the border before it, the spaces around
        return text + (2 if self.compact else 3)

    def on_resize(self, event: events.Resize) -> None:
        """What fits changed with the width."""
        self.call_after_refresh(self.recompose)


def _action(key: Widget) -> str:
    return str(getattr(key, "action", ""))


def _place(key: Widget) -> int:
    action = _action(key)
    return GLOBAL_ACTIONS.index(action) if action in GLOBAL_ACTIONS else len(GLOBAL_ACTIONS)


def _is_palette(key: Widget) -> bool:
    return key.has_class(PALETTE_CLASS)
