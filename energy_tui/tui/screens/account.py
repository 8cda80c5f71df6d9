"""My account: my prosumer's balances, its recent meter readings, my sessions, and a
password change."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

from rich.table import Table as RichTable
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Static

from energy_tui.config import Settings
from energy_tui.errors import AuthError, ValidationError
from energy_tui.services import auth, passwords, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.form import Field, FormModal, Values
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tables import EmptyNote, Table

READINGS = 12
SESSIONS = 20
NARROW = 100  # below this width the balances and readings stack


@dataclasses.dataclass(frozen=True)
class AccountView:
    """Everything the screen shows, read in one worker call."""

    balances: prosumers.Balances | None
    readings: list[prosumers.Reading]
    sessions: list[auth.SessionInfo]


def load_account(username: str, address: str | None) -> AccountView:
    sessions = auth.list_sessions(username, SESSIONS)
    if address is None:
        return AccountView(None, [], sessions)
    return AccountView(prosumers.balances(address), prosumers.readings(address, READINGS), sessions)


def when(moment: dt.datetime | None, empty: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else empty


def amount(value: Decimal) -> Text:
    return Text(f"{value:,.2f}", justify="right")


def balances_table(b: prosumers.Balances) -> RichTable:
    table = RichTable(box=None, padding=(0, 2, 0, 0), show_edge=False, expand=False)
    table.add_column("", style="bold")
    for title in ("Total", "Reserved", "Available"):
        table.add_column(title, justify="right", style="")
    table.add_column("", style="dim")
    table.add_row("WATT", *map(amount, (b.watt_total, b.watt_reserved, b.watt_available)), "")
    energy = (b.energy_credits, b.energy_reserved, b.energy_available)
    table.add_row("Energy", *map(amount, energy), "kWh credits")
    table.add_row("GRID", amount(b.grid_tokens), "", "", "utility token")
    return table


def balances_text(b: prosumers.Balances) -> Text:
    return Text.assemble(
        (b.address, "bold"),
        f"  {b.name} · {b.kind.replace('_', ' ')}\n",
        (
            f"generated {b.energy_generated:,.2f} · consumed {b.energy_consumed:,.2f} · "
            f"bought {b.energy_bought:,.2f} · sold {b.energy_sold:,.2f} kWh",
            "dim",
        ),
    )


def change_password(
    actor: Actor, session_id: uuid.UUID, settings: Settings
) -> Callable[[Values], bool]:
    """The form's submission: check the new password, confirm the current one (counted
    like a login), then set it, ending every other session of the user."""
    username = actor.username or ""

    def submit(values: Values) -> bool:
        passwords.check_rules(values["new"])
        if values["new"] != values["again"]:
            raise ValidationError("the two new passwords differ", field="again")
        try:
            auth.confirm_password(username, values["current"], settings)
        except AuthError as exc:
            raise ValidationError(str(exc), field="current") from None
        users.set_password(
            actor, username, values["new"], rounds=settings.bcrypt_rounds, keep_session=session_id
        )
        return True

    return submit


PASSWORD_FIELDS = [
    Field("current", "Current", "password", placeholder="your password now"),
    Field("new", "New", "password", placeholder="8+ characters", errors_of=("password",)),
    Field("again", "New again", "password", placeholder="the new password again"),
]


class AccountScreen(DataScreen):
    BINDINGS = [
        Binding("p", "change_password", "Change password"),
        Binding("s", "focus_sessions", "Sessions"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Horizontal(id="account-top"):
            with Vertical(id="balances-pane", classes="pane"):
                yield Static("", id="account-prosumer")
                yield Static("", id="account-balances")
            with Vertical(id="readings-pane", classes="pane"):
                yield Table(id="readings", cursor_type="none")
                yield EmptyNote(id="readings-empty")
        with Vertical(id="sessions-pane", classes="pane"):
            yield Table(id="sessions")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#balances-pane").border_title = "My balances"
        self.query_one("#readings-pane").border_title = "Recent meter readings (UTC)"
        self.query_one("#sessions-pane").border_title = "My sessions (UTC)"
        self.query_one("#readings", Table).add_columns("Recorded", "Generated", "Consumed", "By")
        self.query_one("#sessions", Table).add_columns(
            "", "Started", "Last seen", "Ended", "Why", "Client"
        )
        super().on_mount()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def refresh_data(self) -> None:
        actor = self.energy.actor
        if actor is not None:
            self.run_db(
                load_account, actor.username, actor.prosumer_address, then=self.show_account
            )

    def show_account(self, view: AccountView) -> None:
        self._show_balances(view.balances)
        self._show_readings(view.readings)
        self._show_sessions(view.sessions)

    def _show_balances(self, b: prosumers.Balances | None) -> None:
        self.set_class(b is None, "-no-prosumer")
        if b is None:
            session = self.energy.session
            role = session.role if session else ""
            self.query_one("#account-prosumer", Static).update(
                f"No prosumer is linked to your account ({role}), so there are no balances "
                "or meter readings to show. An administrator can link one."
            )
            self.query_one("#account-balances", Static).update("")
            return
        self.query_one("#account-prosumer", Static).update(balances_text(b))
        self.query_one("#account-balances", Static).update(balances_table(b))

    def _show_readings(self, readings: list[prosumers.Reading]) -> None:
        self.query_one("#readings", Table).refill(
            (
                str(i),
                (
                    when(r.recorded_at),
                    amount(r.energy_generated),
                    amount(r.energy_consumed),
                    r.recorded_by,
                ),
            )
            for i, r in enumerate(readings)
        )
        self.query_one("#readings-empty", EmptyNote).show(
            "No meter readings yet: they appear here as your meter reports "
            "(an operator can record one: Admin, Prosumers tab, m)."
        )

    def _show_sessions(self, sessions: list[auth.SessionInfo]) -> None:
        session = self.energy.session
        current = session.session_id if session else None
        self.query_one("#sessions", Table).refill(
            (str(s.id), self._session_row(s, s.id == current)) for s in sessions
        )

    @staticmethod
    def _session_row(s: auth.SessionInfo, current: bool) -> tuple[object, ...]:
        mark = Text("● this one", style="bold green") if current else Text("")
        ended = Text("open", style="green") if s.active else Text(when(s.ended_at))
        return (
            mark,
            when(s.created_at),
            when(s.last_seen),
            ended,
            (s.end_reason or "").replace("_", " "),
            s.ip_address or "this machine",
        )

    # -- actions --------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_focus_sessions(self) -> None:
        self.query_one("#sessions", Table).focus()

    def action_change_password(self) -> None:
        session = self.energy.session
        if session is None:
            return
        form: FormModal[bool] = FormModal(
            "Change your password",
            PASSWORD_FIELDS,
            change_password(session.actor, session.session_id, self.energy.settings),
            hint="Changing it ends your other sessions (other terminals log in again); "
            "this one stays open.",
            submit_label="Change password",
        )
        self.app.push_screen(form, self.password_changed)

    def password_changed(self, changed: bool | None) -> None:
        if not changed:
            return
        self.notify("Password changed; your other sessions were ended.", title="Password")
        self.refresh_data()
