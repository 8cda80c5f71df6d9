"""Keys listed in the footer only where it has room.

Below 100 columns the footer keeps its room for the app's own keys (Ctrl+O log out
among them). A key made with `roomy` is listed from 100 columns; below, a twin binding
of the same key runs the same action unlisted, and the help (?) still lists it.
The node's `check_action` asks `crowded` to hide the listed twin."""

from __future__ import annotations

from textual.binding import Binding
from textual.dom import DOMNode

FOOTER_ROOM = 100  # columns
UNLISTED = "unlisted"


def roomy(key: str, action: str, description: str) -> list[Binding]:
    """`key` for `action` (a method taking an optional argument it may ignore)."""
    return [
        Binding(key, action, description),
        Binding(key, f"{action}('{UNLISTED}')", description, show=False),
    ]


def crowded(node: DOMNode, parameters: tuple[object, ...], room: int = FOOTER_ROOM) -> bool:
    """For `check_action`: the listed twin, on a terminal narrower than `room`."""
    return parameters != (UNLISTED,) and node.app.size.width < room


def in_help(binding: Binding) -> bool:
    """Listed by the help: shown in the footer, or the unlisted twin of such a key."""
    return bool(binding.description) and (
        binding.show or binding.action.endswith(f"('{UNLISTED}')")
    )
