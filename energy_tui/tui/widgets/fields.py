"""Keys applied in the order they were typed, however fast they arrive.

Textual hands a key to the focused widget, which inserts a character at once; a key it
binds (Backspace, Enter, the arrows) or one bound higher up (Tab) instead travels up
through every container's message queue to the app before its action runs. A burst of
keys (a paste of keystrokes, a barcode reader, `tmux send-keys "12.5" BSpace "0"`) was
thus applied out of order: the Backspace after the characters typed after it, the Tab
after the characters meant for the next field (Textual issue #6605). Here:

- `TextField` runs its own bindings as the key reaches it, in its queue, behind the
  characters typed before it;
- `FieldKeys` (the app's Tab and Shift+Tab, a form's Enter) are priority bindings: the
  app runs them before handing on the next key, and they first wait until the focused
  field has applied every key sent to it, then move the focus, so that what follows
  is typed into the next field.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from textual import events
from textual.binding import Binding, BindingsMap
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

# A widget that does not answer in this time (closing, say) does not hold the keys up.
SETTLE_SECONDS = 1.0


class TextField(Input):
    """An Input whose editing keys (Backspace, Delete, arrows, Home/End, Enter, ...) are
    applied in order with the characters typed around them."""

    OWN_KEYS = BindingsMap(Input.BINDINGS)

    async def on_key(self, event: events.Key) -> None:
        for binding in self.OWN_KEYS.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()  # not again by the app on its way up
                return


async def settled(widget: Widget | None) -> None:
    """Return once `widget` has handled every event already sent to it."""
    if widget is None:
        return
    done = asyncio.Event()
    if widget.call_later(done.set):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), SETTLE_SECONDS)


def tab_bindings() -> list[Binding]:
    """The app's Tab and Shift+Tab: actions `next_field` / `previous_field`."""
    return [
        Binding("tab", "next_field", "Next field", show=False, priority=True),
        Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True),
    ]


def enter_binding() -> Binding:
    """A form's Enter in a text field: action `enter_field` (next field, or submit)."""
    return Binding("enter", "enter_field", "Next field", show=False, priority=True)


def in_text_field(screen: Screen[Any]) -> bool:
    """For a form's `check_action`: Enter is the form's while a text field has focus
    (a button, a checkbox or a select keeps its own Enter)."""
    return isinstance(screen.focused, Input)


async def enter_field(screen: Screen[Any], submit: Callable[[], object]) -> None:
    """Enter in a form's text field: on to the next text field, or `submit` on the last,
    once the field has applied the keys typed before the Enter."""
    field = screen.focused
    await settled(field)
    fields = [i for i in screen.query(Input) if i.focusable]
    if field in fields and field is not fields[-1]:
        screen.set_focus(fields[fields.index(field) + 1])  # now: focus() waits its turn
    else:
        submit()
