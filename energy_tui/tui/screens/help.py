"""`?`: every key binding of the screen underneath, and how to move around."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from energy_tui.tui.bindings import UNLISTED, in_help

GENERAL = """\
F1-F6 or 1-6   switch screens (book, trades, stats, account, keys, admin)
F9             price alerts: set, list, remove (they ring in every terminal)
Ctrl+P         command palette: every screen and action, and themes
Ctrl+L         lock the screen      Ctrl+O  log out      Ctrl+Q  quit
j / k          move down / up in tables   Tab / Shift+Tab  next / previous field
Esc            close this help or a dialog"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Label("Keys", classes="form-title")
            yield Static(GENERAL)
            lines = self._screen_bindings()
            if lines:
                yield Label("On this screen", classes="form-title help-section")
                yield Static("\n".join(lines))

    def _screen_bindings(self) -> list[str]:
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if below is None:
            return []
        seen, lines = set(), []
        for _key, active in below.active_bindings.items():
            binding = active.binding
            if active.node is self.app:  # the app's own keys are listed above
                continue
            action = binding.action.removesuffix(f"('{UNLISTED}')")  # twins: one entry
            if in_help(binding) and action not in seen:
                seen.add(action)
                lines.append(f"{key_name(binding):<14} {binding.description}")
        return lines


def key_name(binding: Binding) -> str:
    """`ctrl+s` as Ctrl+S, `delete` as Delete; a plain letter stays as typed."""
    if binding.key_display:
        return binding.key_display
    *modifiers, key = binding.key.split("+")
    key = key.title() if len(key) > 1 else key.upper() if modifiers else key
    return "+".join([*(m.title() for m in modifiers), key])
