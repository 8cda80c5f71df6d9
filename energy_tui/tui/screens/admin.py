"""Administration, by role: users (MANAGE_USERS), prosumers (MANAGE_PROSUMERS) and the
audit log (READ_AUDIT), one tab each. Every write runs as the logged-in user (`self.actor`)
and is audited as them by the services."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    DataTable,
    Header,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from energy_tui import clock
from energy_tui.db.fields import ENERGY_PLACES, MONEY_PLACES
from energy_tui.errors import ValidationError
from energy_tui.services import audit, prosumers, users
from energy_tui.services.audit import AuditEntry
from energy_tui.services.market import MarketRules
from energy_tui.services.market import rules as market_rules
from energy_tui.services.permissions import Action
from energy_tui.services.prosumers import Balances
from energy_tui.services.users import UserInfo
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.audit_entry import AuditEntryScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.fields import TextField
from energy_tui.tui.widgets.form import Field, FormModal, Values
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tables import EmptyNote, Table

if TYPE_CHECKING:
    from energy_tui.services.context import Actor
    from energy_tui.tui.app import EnergyApp

NO_PROSUMER = "(none)"  # never an address: those start with a letter or digit
AUDIT_LIMIT = "100"
TABS = (
    ("tab-users", "Users [dim](u)[/]", Action.MANAGE_USERS),
    ("tab-prosumers", "Prosumers [dim](p)[/]", Action.MANAGE_PROSUMERS),
    ("tab-audit", "Audit log [dim](l)[/]", Action.READ_AUDIT),
    ("tab-rules", "Market rules [dim](t)[/]", Action.MANAGE_MARKET_RULES),
)


def when(moment: Any, empty: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else empty


def money(value: Decimal) -> Text:
    return Text(f"{value:,.2f}", justify="right")


def amount_field(
    name: str,
    label: str,
    places: int,
    unit: str,
    *,
    value: str = "",
    placeholder: str = "",
    zero: bool = False,
) -> Field:
    """A WATT or kWh amount, checked as typed by the parser the service uses."""
    return Field(
        name,
        label,
        "decimal",
        value=value,
        placeholder=placeholder,
        places=places,
        max_digits=prosumers.AMOUNT_DIGITS,
        unit=unit,
        allow_zero=zero,
    )


class AdminPane(Vertical):
    """One tab's content: its own table, bindings and forms."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.select_next: str | None = None  # the row to put the cursor on after a write

    @property
    def admin(self) -> AdminScreen:
        return self.screen  # type: ignore[return-value]

    @property
    def energy(self) -> EnergyApp:
        return self.admin.energy

    @property
    def actor(self) -> Actor:
        return self.admin.actor

    @property
    def table(self) -> Table:
        return self.query_one(Table)

    def refresh_data(self) -> None:
        """Reload the tab; override."""

    def ask(self, form: FormModal[Any], then: Callable[[Any], None]) -> None:
        """Show `form`; `then` gets its result unless it was cancelled."""
        self.app.push_screen(form, lambda result: None if result is None else then(result))


# -- users --------------------------------------------------------------------------------


class UsersPane(AdminPane):
    BINDINGS = [
        Binding("a", "add_user", "Add user"),
        Binding("e", "set_role", "Role"),
        Binding("d", "toggle_active", "Disable/enable"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listed: dict[str, UserInfo] = {}

    def compose(self) -> ComposeResult:
        yield Table(id="users")

    def on_mount(self) -> None:
        self.table.add_columns(
            "Username", "Email", "Role", "Prosumer", "Status", "Last login", "Created"
        )

    def refresh_data(self) -> None:
        self.admin.run_db(users.list_users, then=self.show, group="users")

    def show(self, listed: list[UserInfo]) -> None:
        self.listed = {u.username: u for u in listed}
        self.table.refill(((u.username, self._row(u)) for u in listed), self.select_next)
        self.select_next = None

    @staticmethod
    def _row(u: UserInfo) -> tuple[object, ...]:
        if not u.is_active:
            status = Text("disabled", style="red")
        elif u.locked_until is not None and u.locked_until > clock.now():
            status = Text(f"locked to {u.locked_until:%H:%M}", style="yellow")
        else:
            status = Text("active", style="green")
        return (
            Text(u.username, style="bold"),
            u.email,
            u.role,
            u.prosumer_address or "",
            status,
            when(u.last_login, "never"),
            when(u.created_at),
        )

    def selected(self) -> UserInfo | None:
        user = self.listed.get(self.table.selected_key() or "")
        if user is None:
            self.notify("No user selected.", severity="warning")
        return user

    def action_add_user(self) -> None:
        """Load the prosumers' addresses (the form offers them), then open the form."""
        self.admin.run_db(prosumers.list_prosumers, then=self.add_user_form, group="users")

    def add_user_form(self, listed: list[Balances]) -> None:
        actor, rounds = self.actor, self.energy.settings.bcrypt_rounds

        def submit(values: Values) -> UserInfo:
            if values["password"] != values["again"]:
                raise ValidationError("the two passwords differ", field="again")
            return users.add_user(
                actor,
                values["username"],
                values["email"],
                values["password"],
                rounds=rounds,
                role=values["role"],
                prosumer_address=None if values["prosumer"] == NO_PROSUMER else values["prosumer"],
            )

        fields = [
            Field("username", "Username", placeholder="3-50 letters, digits . _ -", max_length=50),
            Field("email", "Email", placeholder="name@example.org", max_length=100),
            Field("role", "Role", "select", value="trader", choices=users.ROLES),
            Field(
                "prosumer",
                "Prosumer",
                "select",
                value=NO_PROSUMER,
                choices=(NO_PROSUMER, *(b.address for b in listed)),
                errors_of=("address",),
            ),
            Field("password", "Password", "password", placeholder="8+ characters"),
            Field("again", "Again", "password", placeholder="the password again"),
        ]
        hint = (
            "Prosumer: the one the user trades for, if any. Not in the list? "
            "Add the prosumer first: p (Prosumers tab), then a."
        )
        form = FormModal("Add a user", fields, submit, hint=hint, submit_label="Add")
        self.ask(form, self.added)

    def added(self, user: UserInfo) -> None:
        self.notify(f"Added {user.username} ({user.role}).", title="User added")
        self.select_next = user.username
        self.refresh_data()

    def action_set_role(self) -> None:
        user = self.selected()
        if user is None:
            return
        actor = self.actor

        def submit(values: Values) -> UserInfo:
            return users.set_role(actor, user.username, values["role"])

        field = Field("role", "Role", "select", value=user.role, choices=users.ROLES)
        form = FormModal(
            f"Role of {user.username}",
            [field],
            submit,
            hint="The new role applies from the user's next login.",
        )
        self.ask(form, self.role_set)

    def role_set(self, user: UserInfo) -> None:
        self.notify(f"{user.username} is now {user.role}.", title="Role changed")
        self.refresh_data()

    def action_toggle_active(self) -> None:
        user = self.selected()
        if user is None:
            return
        session = self.energy.session
        if session is not None and user.username == session.username:
            self.notify("You cannot disable your own account.", severity="warning")
            return
        verb = "Disable" if user.is_active else "Enable"
        detail = (
            "They can no longer log in, and their open sessions end now."
            if user.is_active
            else "They can log in again (a lockout is cleared too)."
        )
        self.app.push_screen(
            Confirm(f"{verb} {user.username}?", detail, yes=verb),
            lambda yes: self._set_active(user, yes),
        )

    def _set_active(self, user: UserInfo, yes: bool | None) -> None:
        if yes:
            self.admin.run_db(
                users.set_active,
                self.actor,
                user.username,
                not user.is_active,
                then=self.active_set,
                group="user-write",
                exclusive=False,
            )

    def active_set(self, user: UserInfo) -> None:
        state = "enabled" if user.is_active else "disabled"
        self.notify(f"{user.username} {state}.", title="User " + state)
        self.refresh_data()


# -- prosumers ----------------------------------------------------------------------------


class ProsumersPane(AdminPane):
    BINDINGS = [
        Binding("a", "add_prosumer", "Add prosumer"),
        Binding("d", "deposit", "Deposit"),
        Binding("w", "withdraw", "Withdraw"),
        Binding("m", "meter_reading", "Meter reading"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listed: dict[str, Balances] = {}

    def compose(self) -> ComposeResult:
        yield Table(id="prosumers")
        yield EmptyNote(id="prosumers-empty")

    def on_mount(self) -> None:
        table = self.table
        table.add_column("Address")
        table.add_column("Name", width=20)  # the ten columns then fit 120 wide
        table.add_column("Kind")
        for title in ("WATT", "held", "free", "kWh", "held", "free", "GRID"):
            table.add_column(Text(title, justify="right"))

    def refresh_data(self) -> None:
        self.admin.run_db(prosumers.list_prosumers, then=self.show, group="prosumers")

    def show(self, listed: list[Balances]) -> None:
        self.listed = {b.address: b for b in listed}
        self.table.refill(((b.address, self._row(b)) for b in listed), self.select_next)
        self.select_next = None
        self.query_one("#prosumers-empty", EmptyNote).show(
            "No prosumers yet: add the first with a."
        )

    @staticmethod
    def _row(b: Balances) -> tuple[object, ...]:
        return (
            Text(b.address, style="bold"),
            Text(b.name, overflow="ellipsis", no_wrap=True),
            b.kind.replace("_", " "),
            money(b.watt_total),
            money(b.watt_reserved),
            money(b.watt_available),
            money(b.energy_credits),
            money(b.energy_reserved),
            money(b.energy_available),
            money(b.grid_tokens),
        )

    def selected(self) -> Balances | None:
        row = self.listed.get(self.table.selected_key() or "")
        if row is None:
            self.notify("No prosumer selected.", severity="warning")
        return row

    def action_add_prosumer(self) -> None:
        actor = self.actor

        def submit(values: Values) -> Balances:
            return prosumers.add_prosumer(actor, values["address"], values["name"], values["kind"])

        fields = [
            Field("address", "Address", placeholder="e.g. home-13", max_length=100),
            Field("name", "Name", placeholder="e.g. Rooftop, 9 Elm Street", max_length=200),
            Field("kind", "Kind", "select", value="residential", choices=prosumers.PROSUMER_KINDS),
        ]
        form = FormModal("Add a prosumer", fields, submit, submit_label="Add")
        self.ask(form, lambda b: self.changed(b, f"Added {b.address} ({b.kind})."))

    def action_deposit(self) -> None:
        self._money_form(prosumers.deposit, 1, "Deposit", "to", "Deposited")

    def action_withdraw(self) -> None:
        self._money_form(prosumers.withdraw, -1, "Withdraw", "from", "Withdrew")

    def _money_form(
        self, call: Callable[..., Balances], sign: int, title: str, to: str, done: str
    ) -> None:
        """The amount form, then the question that names amount and prosumer, then `call`."""
        row = self.selected()
        if row is None:
            return
        actor = self.actor

        def submit(values: Values) -> Balances:
            return call(actor, row.address, values["amount"])

        def confirm(values: Values) -> Confirm:
            amount: Decimal = values["amount"]
            after = row.watt_total + sign * amount
            detail = f"{row.name}: {row.watt_total:,.2f} WATT now, {after:,.2f} after."
            return Confirm(f"{title} {amount:,.2f} WATT {to} {row.address}?", detail, yes=title)

        hint = (
            f"{row.address}: {row.watt_total:,.2f} WATT, "
            f"{row.watt_available:,.2f} available ({row.watt_reserved:,.2f} held by orders)."
        )
        form = FormModal(
            f"{title} WATT: {row.address}",
            [amount_field("amount", "WATT", MONEY_PLACES, "WATT", placeholder="e.g. 250.00")],
            submit,
            hint=hint,
            submit_label=title,
            confirm=confirm,
        )
        self.ask(
            form,
            lambda b: self.changed(b, f"{done} WATT: {b.address} now holds {b.watt_total:,.2f}."),
        )

    def action_meter_reading(self) -> None:
        row = self.selected()
        if row is None:
            return
        actor = self.actor

        def submit(values: Values) -> Balances:
            return prosumers.add_meter_reading(
                actor, row.address, values["generated"], values["consumed"]
            )

        fields = [
            amount_field("generated", "Generated", ENERGY_PLACES, "kWh", value="0", zero=True),
            amount_field("consumed", "Consumed", ENERGY_PLACES, "kWh", value="0", zero=True),
        ]
        form = FormModal(
            f"Meter reading: {row.address}",
            fields,
            submit,
            hint="kWh since the last reading; both add to the prosumer's totals.",
            submit_label="Record",
        )
        self.ask(
            form,
            lambda b: self.changed(
                b, f"Reading recorded: {b.address} has {b.energy_credits:,.2f} kWh credits."
            ),
        )

    def changed(self, row: Balances, message: str) -> None:
        self.notify(message, title="Prosumers")
        self.select_next = row.address
        self.refresh_data()


# -- audit log ----------------------------------------------------------------------------


class AuditPane(AdminPane):
    BINDINGS = [
        Binding("f", "filters", "Filters"),
        Binding("c", "clear_filters", "Clear filters"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listed: dict[str, AuditEntry] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="audit-filters"):
            yield Label("Event", classes="filter-label")
            yield Select(
                [(e, e) for e in audit.EVENT_TYPES],
                prompt="any",
                id="audit-event",
                compact=True,
            )
            yield Label("User", classes="filter-label")
            yield TextField(placeholder="any", id="audit-user", max_length=50, compact=True)
            yield Label("Since", classes="filter-label")
            yield TextField(placeholder="2026-01-31 or 7d", id="audit-since", compact=True)
            yield Label("Limit", classes="filter-label")
            # every character typed is kept: a wrong count is refused with the reason
            yield TextField(AUDIT_LIMIT, id="audit-limit", compact=True)
        yield Static("", id="audit-error", classes="field-error")
        yield Table(id="audit")
        yield EmptyNote(id="audit-empty")

    def on_mount(self) -> None:
        self.query_one("#audit-error").display = False
        self.table.add_columns("Time (UTC)", "Event", "User", "Actor", "Outcome", "IP", "Details")

    def refresh_data(self) -> None:
        try:
            query = self.filters()
        except ValidationError as exc:
            self.show_error(exc)
            return
        self.show_error(None)
        filtered = any(query[name] is not None for name in ("event_type", "username", "since"))
        self.admin.run_db(
            lambda: audit.entries(**query),
            then=lambda found: self.show(found, filtered),
            group="audit",
        )

    def filters(self) -> dict[str, Any]:
        event = self.query_one("#audit-event", Select)
        user = self.query_one("#audit-user", Input).value.strip()
        since = self.query_one("#audit-since", Input).value
        limit = self.query_one("#audit-limit", Input).value or AUDIT_LIMIT
        return {
            "event_type": None if event.is_blank() else str(event.value),
            "username": user or None,
            "since": audit.parse_since(since, clock.now()),
            "limit": audit.parse_limit(limit, most=1000),
        }

    def show_error(self, exc: ValidationError | None) -> None:
        error = self.query_one("#audit-error", Static)
        error.update(str(exc) if exc else "")
        error.display = exc is not None
        for name in ("since", "limit"):
            bad = exc is not None and exc.field == name
            self.query_one(f"#audit-{name}", Input).set_class(bad, "-invalid")

    def show(self, entries: list[AuditEntry], filtered: bool = False) -> None:
        self.listed = {str(e.id): e for e in entries}
        self.table.refill((str(e.id), self._row(e)) for e in entries)
        self.query_one("#audit-empty", EmptyNote).show(
            "No audit entries match these filters: clear them with c (or change them with f)."
            if filtered
            else "No audit entries yet."
        )

    @staticmethod
    def _row(e: AuditEntry) -> tuple[object, ...]:
        style = "" if e.outcome == "success" else "red"
        details = " ".join(f"{key}={value}" for key, value in e.data.items())
        return (
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.event_type,
            e.username or "",
            e.actor,
            Text(e.outcome, style=style),
            e.ip_address or "",
            details,
        )

    @on(Input.Submitted)
    @on(Select.Changed)
    def apply(self) -> None:
        self.refresh_data()

    def action_filters(self) -> None:
        self.query_one("#audit-event", Select).focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    @on(DataTable.RowSelected, "#audit")
    def show_entry(self) -> None:
        """The whole entry: the table cuts the details to its column."""
        entry = self.listed.get(self.table.selected_key() or "")
        if entry is not None:
            self.app.push_screen(AuditEntryScreen(entry))

    def action_clear_filters(self) -> None:
        self.query_one("#audit-event", Select).clear()
        for name, value in (("user", ""), ("since", ""), ("limit", AUDIT_LIMIT)):
            self.query_one(f"#audit-{name}", Input).value = value
        self.refresh_data()


# -- market rules -------------------------------------------------------------------------


class RulesPane(AdminPane):
    """The market's rules (the database's, the same for every client); an edit applies
    from the next placement on and is audited with the old and the new value."""

    BINDINGS = [Binding("e", "edit_rule", "Edit rule")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules: MarketRules | None = None

    def compose(self) -> ComposeResult:
        yield Table(id="rules")

    def on_mount(self) -> None:
        self.table.add_columns("Rule", "Value", "Meaning")

    def refresh_data(self) -> None:
        self.admin.run_db(market_rules.current, then=self.show, group="rules")

    def show(self, rules: MarketRules) -> None:
        self.rules = rules
        rows = (
            (rule.name, (Text(rule.name, style="bold"), str(value), rule.meaning))
            for rule, value in ((r, market_rules.value_of(rules, r)) for r in market_rules.RULES)
        )
        self.table.refill(rows, self.select_next)
        self.select_next = None

    @on(Table.RowSelected)
    def row_chosen(self) -> None:
        self.action_edit_rule()

    def action_edit_rule(self) -> None:
        name = self.table.selected_key()
        if self.rules is None or name is None:
            self.notify("No rule selected.", severity="warning")
            return
        rule, actor = market_rules.find(name), self.actor

        def submit(values: Values) -> market_rules.RuleChange:
            return market_rules.set_rule(actor, rule.name, values["value"])

        field = Field(
            "value",
            "Value",
            value=str(market_rules.value_of(self.rules, rule)),
            max_length=100,
            errors_of=(rule.name, "address"),
        )
        hint = f"{rule.meaning}. Applies from the next order on, in every client; audited."
        form = FormModal(f"Market rule {rule.name}", [field], submit, hint=hint)
        self.ask(form, self.rule_set)

    def rule_set(self, change: market_rules.RuleChange) -> None:
        self.notify(f"{change.name}: {change.old} -> {change.new}", title="Market rule changed")
        self.select_next = change.name
        self.refresh_data()


# -- the screen ---------------------------------------------------------------------------

PANES: dict[str, type[AdminPane]] = {
    "tab-users": UsersPane,
    "tab-prosumers": ProsumersPane,
    "tab-audit": AuditPane,
    "tab-rules": RulesPane,
}


class AdminScreen(DataScreen):
    BINDINGS = [
        # The tab titles show these keys; the footer keeps room for the tab's actions.
        Binding("u", "tab('tab-users')", "Users tab", show=False),
        Binding("p", "tab('tab-prosumers')", "Prosumers tab", show=False),
        Binding("l", "tab('tab-audit')", "Audit log tab", show=False),
        Binding("t", "tab('tab-rules')", "Market rules tab", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def tabs_for_user(self) -> list[tuple[str, str]]:
        return [(tab, title) for tab, title, need in TABS if self.energy.can(need)]

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with TabbedContent(id="admin-tabs"):
            for tab, title in self.tabs_for_user():
                with TabPane(title, id=tab):
                    yield PANES[tab](classes="admin-pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.focus_pane()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tab":
            return any(tab == parameters[0] for tab, _ in self.tabs_for_user())
        return True

    def panes(self) -> list[AdminPane]:
        return list(self.query(AdminPane))

    def refresh_data(self) -> None:
        if self.energy.session is not None:
            for pane in self.panes():
                pane.refresh_data()

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_tab(self, tab: str) -> None:
        if any(t == tab for t, _ in self.tabs_for_user()):
            self.query_one(TabbedContent).active = tab
            self.focus_pane()

    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Show the tab as it is now (another tab may have written since)."""
        pane = event.pane.query_one(AdminPane)
        if self.energy.session is not None:
            pane.refresh_data()
        self.focus_pane()

    def focus_pane(self) -> None:
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            pane.query_one(Table).focus()
