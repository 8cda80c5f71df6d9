"""One audit entry in full: every field and its event data, which the log's table
can only show cut to its column."""

from __future__ import annotations

import json

from rich.table import Table as RichTable
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from energy_tui.services.audit import AuditEntry


def entry_table(e: AuditEntry) -> RichTable:
    """Field names on the left, values as plain text (never markup) on the right."""
    table = RichTable(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows = (
        ("Entry", str(e.id)),
        ("Time (UTC)", e.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Event", e.event_type),
        ("Outcome", e.outcome),
        ("User", e.username or "(none)"),
        ("Actor", e.actor),
        ("IP address", e.ip_address or "(none)"),
    )
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def event_data_text(e: AuditEntry) -> Text:
    if not e.data:
        return Text("(no event data)", style="dim")
    return Text(json.dumps(e.data, indent=2, sort_keys=True, ensure_ascii=False))


class AuditEntryScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    AuditEntryScreen #audit-entry { width: 90; max-width: 100%; max-height: 90%; }
    AuditEntryScreen #audit-entry-data { height: auto; max-height: 20; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, entry: AuditEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="audit-entry"):
            yield Label(f"Audit entry {self.entry.id}", classes="form-title")
            yield Static(entry_table(self.entry), id="audit-entry-fields")
            yield Label("Event data")
            with VerticalScroll(id="audit-entry-data"):
                yield Static(event_data_text(self.entry), id="audit-entry-json")
            with Horizontal(classes="buttons"):
                yield Button("Close (Esc)", id="close", variant="primary")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
