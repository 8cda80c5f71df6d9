"""F9 (or the command palette): one's price alerts, over whatever screen is open.

Set one (above/below a level), see which wait and which fired, remove one (Delete).
The firing itself is the app's (`EnergyApp.alerts_fired`): a toast and the bell in
every terminal of the user, whichever screen is up.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from energy_tui.errors import DatabaseUnavailable, EnergyError
from energy_tui.services import alerts
from energy_tui.services.alerts import AlertView
from energy_tui.tui.widgets.fields import TextField
from energy_tui.tui.widgets.tables import Table

if TYPE_CHECKING:
    from energy_tui.tui.app import EnergyApp

FIRED_SHOWN = 20  # the most recent fired alerts listed under the waiting ones
HINT = "Rings here and in your other terminals, once, when a trade reaches its level."
EMPTY = "No alerts yet: choose above or below, type a price, Enter."


class DirectionToggle(Widget, can_focus=True):
    """▲ above / ▼ below on one line: Left/Right or Space switch, a click picks."""

    DEFAULT_CSS = """
    DirectionToggle { height: 1; width: 20; margin-top: 1; }
    DirectionToggle > .direction--on { background: $primary; color: $text; text-style: bold; }
    DirectionToggle > .direction--off { color: $text-muted; }
    DirectionToggle:focus > .direction--off { color: $text; }
    """
    COMPONENT_CLASSES = {"direction--on", "direction--off"}
    BINDINGS = [Binding("left,right,space", "switch", "Above/Below", show=False)]
    LABELS = {"above": " ▲ above ", "below": " ▼ below "}

    direction: reactive[str] = reactive("above")

    def render(self) -> Text:
        text = Text()
        for name, label in self.LABELS.items():
            lit = "direction--on" if name == self.direction else "direction--off"
            text.append(label, style=self.get_component_rich_style(lit))
            text.append(" ")
        return text

    def action_switch(self) -> None:
        self.direction = "below" if self.direction == "above" else "above"

    def on_click(self, event: events.Click) -> None:
        self.direction = "above" if event.x < len(self.LABELS["above"]) + 1 else "below"


class AlertsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    AlertsScreen #alerts-dialog { width: 76; max-width: 100%; height: auto; max-height: 100%; }
    AlertsScreen #alerts-hint { margin-bottom: 0; }
    AlertsScreen #alerts-form { height: auto; }
    AlertsScreen #alert-price { width: 18; margin: 0 1; }
    AlertsScreen #add-alert { min-width: 9; margin: 0; }
    AlertsScreen #alerts-error { height: auto; color: $text-error; }
    AlertsScreen #alerts-table { height: auto; max-height: 12; }
    AlertsScreen #alerts-empty { color: $text-muted; }
    AlertsScreen #alerts-keys { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("delete", "remove_alert", "Remove"),
        Binding("f7", "direction('above')", "Above", show=False),
        Binding("f8", "direction('below')", "Below", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, AlertView] = {}

    @property
    def energy(self) -> EnergyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="alerts-dialog"):
            yield Label("Price alerts", classes="form-title")
            yield Static(HINT, id="alerts-hint", classes="form-hint")
            with Horizontal(id="alerts-form"):
                yield DirectionToggle(id="alert-direction")
                yield TextField(placeholder="price WATT/kWh", id="alert-price")
                yield Button("Add", id="add-alert", variant="primary")
            yield Static("", id="alerts-error")
            yield Static(EMPTY, id="alerts-empty")
            yield Table(id="alerts-table")
            yield Static("Enter add · ←/→ above/below · Del remove · Esc close", id="alerts-keys")

    def on_mount(self) -> None:
        table = self.query_one("#alerts-table", Table)
        table.add_columns("Alert", "Level", "Status", "Set (UTC)", "Fired (UTC)")
        table.display = False
        self.query_one("#alert-price", Input).focus()
        self.energy.market_changed.subscribe(self, lambda _version: self.load())
        self.load()

    # -- reading ----------------------------------------------------------------------

    def load(self) -> None:
        actor = self.energy.actor
        if actor is not None:
            self.run_db(self._read, actor, then=self.show)

    @staticmethod
    def _read(actor: Any) -> tuple[list[AlertView], Decimal | None]:
        return alerts.list_alerts(actor, include_fired=True), alerts.last_price()

    def show(self, result: tuple[list[AlertView], Decimal | None]) -> None:
        rows, last = result
        waiting = [a for a in rows if a.fired_at is None]
        fired = [a for a in rows if a.fired_at is not None][:FIRED_SHOWN]
        self.rows = {str(a.id): a for a in waiting + fired}
        shown = "no trades yet" if last is None else f"last price {last}"
        self.query_one("#alerts-hint", Static).update(f"{HINT}\nNow: {shown} WATT/kWh.")
        table = self.query_one("#alerts-table", Table)
        table.refill((key, _cells(alert)) for key, alert in self.rows.items())
        table.display = bool(self.rows)
        self.query_one("#alerts-empty").display = not self.rows

    # -- writing ----------------------------------------------------------------------

    def action_direction(self, direction: str) -> None:
        self.query_one(DirectionToggle).direction = direction

    @on(Input.Submitted, "#alert-price")
    @on(Button.Pressed, "#add-alert")
    def add_alert(self) -> None:
        direction = self.query_one(DirectionToggle).direction
        typed = self.query_one("#alert-price", Input).value
        try:
            direction, price = alerts.alert_request(direction, typed)
        except EnergyError as exc:
            self.show_error(str(exc))
            return
        actor = self.energy.actor
        if actor is not None:
            self.show_error("")
            self.run_db(alerts.add, actor, direction, price, then=self.added)

    def added(self, alert: AlertView) -> None:
        self.query_one("#alert-price", Input).value = ""
        self.notify(f"Alert set: last price {alert.direction} {alert.price}", timeout=3)
        self.load()

    def action_remove_alert(self) -> None:
        key = self.query_one("#alerts-table", Table).selected_key()
        actor = self.energy.actor
        if key is None or actor is None:
            self.show_error("Select an alert in the list to remove it.")
            return
        self.run_db(alerts.remove, actor, key, then=lambda _alert: self.load())

    def show_error(self, message: str) -> None:
        self.query_one("#alerts-error", Static).update(Text(message))

    def action_close(self) -> None:
        self.dismiss(None)

    def run_db(
        self, fn: Callable[..., Any], *args: Any, then: Callable[[Any], None] | None = None
    ) -> None:
        """A service call in a worker; a refusal is shown in the dialog, a lost database
        goes to the app's banner as well."""

        def job() -> None:
            try:
                result = self.energy.bridge.call(fn, *args)
            except EnergyError as exc:
                self.app.call_from_thread(self.show_error, str(exc))
                if isinstance(exc, DatabaseUnavailable):
                    raise
                return
            if then is not None:
                self.app.call_from_thread(then, result)

        self.run_worker(job, thread=True, group="alerts", exit_on_error=False)


def _cells(alert: AlertView) -> tuple[object, ...]:
    arrow = "▲ above" if alert.direction == "above" else "▼ below"
    if alert.fired_at is None:
        return (arrow, alert.price, "waiting", f"{alert.created_at:%m-%d %H:%M}", "-")
    status = Text(f"fired {alert.fired_price}", style="bold")
    return (
        arrow,
        alert.price,
        status,
        f"{alert.created_at:%m-%d %H:%M}",
        f"{alert.fired_at:%m-%d %H:%M}",
    )
