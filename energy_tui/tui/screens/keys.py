"""API keys: mine (everyone's for operators and admins), create one (shown once), revoke."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Header, Label, Static

from energy_tui import clock
from energy_tui.services import keys
from energy_tui.services.context import Actor
from energy_tui.services.keys import CreatedKey, KeyInfo
from energy_tui.services.permissions import Action, key_permissions_for
from energy_tui.tui.screens.base import DataScreen
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.form import Field, FormModal, Values
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tables import EmptyNote, Table

STATUS_STYLES = {"active": "green", "revoked": "red", "expired": "yellow"}
HINT = (
    "Scripts act as a key's owner with ENERGY_TUI_API_KEY or --api-key-file FILE. "
    "A key is shown whole once, at creation; then only its prefix."
)


def create_key(actor: Actor) -> Callable[[Values], CreatedKey]:
    """The form's submission; the owner defaults to the actor."""

    def submit(values: Values) -> CreatedKey:
        owner = (values.get("owner") or "").strip() or actor.username or ""
        expires = keys.parse_expiry(values["expiry"], clock.now())
        return keys.create_key(actor, owner, values["name"], values["permissions"], expires)

    return submit


def key_fields(role: str, username: str, for_others: bool) -> list[Field]:
    # `meter` keys are installed by operators (who manage prosumers), for a trader
    allowed = tuple(
        p
        for p in keys.KEY_PERMISSIONS
        if p in key_permissions_for(role) and (p != "meter" or for_others)
    )
    fields = [Field("name", "Name", placeholder="what the key is for", max_length=100)]
    if for_others:
        fields.append(
            Field("owner", "Owner", value=username, max_length=50, errors_of=("user", "username"))
        )
    fields += [
        Field("permissions", "Permissions", "checks", choices=allowed, checked=("read",)),
        Field(
            "expiry",
            "Expires",
            value="90d",
            placeholder="90d, 2w, 12h, 2027-01-31 or never",
            max_length=40,
            errors_of=("expires",),
        ),
    ]
    return fields


def when(moment: object, empty: str = "") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else empty  # type: ignore[attr-defined]


class KeyReveal(ModalScreen[None]):
    """The one time a key is shown: visible, selectable, and copyable (OSC 52)."""

    BINDINGS = [
        Binding("c", "copy", "Copy"),
        Binding("enter,escape", "close", "Done"),
    ]

    def __init__(self, created: CreatedKey) -> None:
        super().__init__()
        self.secret, self.info = created.key, created.info

    def compose(self) -> ComposeResult:
        info = self.info
        with Vertical(classes="dialog key-dialog"):
            yield Label("API key created", classes="form-title")
            yield Static(
                f"{info.prefix} · {info.name} · for {info.owner} · "
                f"{', '.join(info.permissions)} · expires {when(info.expires_at, 'never')}"
            )
            yield Static(self.secret, id="secret", classes="secret")
            yield Static(
                "Copy it now: it will not be shown again. Only its prefix stays visible.",
                classes="form-hint",
            )
            yield Static("", id="copied", classes="form-hint")
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", id="copy", variant="primary")
                yield Button("Done (Enter)", id="done")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#copied").display = False
        self.query_one("#done", Button).focus()  # Enter closes, as the footer says

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.secret)
        copied = self.query_one("#copied", Static)
        copied.update(
            "Copied to the clipboard (OSC 52). If your terminal ignores OSC 52, "
            "select the key above with the mouse."
        )
        copied.display = True

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        # Forget the key: this screen and the app's copy of the clipboard (the terminal
        # keeps its own, which is what the user asked for).
        if self.app.clipboard == self.secret:
            self.app._clipboard = ""
        self.secret = ""
        self.query_one("#secret", Static).update("")
        self.dismiss(None)


class KeysScreen(DataScreen):
    BINDINGS = [
        Binding("n", "create", "New key"),
        Binding("x,delete", "revoke", "Revoke", key_display="x"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listed: dict[str, KeyInfo] = {}

    @property
    def for_others(self) -> bool:
        return self.energy.can(Action.MANAGE_KEYS_OF_OTHERS)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner()
        with Vertical(id="keys-pane", classes="pane"):
            yield Static(HINT, classes="form-hint", id="keys-hint")
            yield Table(id="keys")
            yield EmptyNote(id="keys-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        pane = self.query_one("#keys-pane")
        pane.border_title = "All API keys (UTC)" if self.for_others else "My API keys (UTC)"
        owner = ("Owner",) if self.for_others else ()
        self.query_one("#keys", Table).add_columns(
            "Prefix", "Name", *owner, "Permissions", "Status", "Expires", "Last used", "Created"
        )
        self.query_one("#keys", Table).focus()
        super().on_mount()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("create", "revoke"):
            return self.energy.can(Action.MANAGE_OWN_KEYS)
        return True

    def refresh_data(self) -> None:
        if self.energy.actor is not None:
            self.run_db(keys.list_keys, self.energy.actor, then=self.show_keys)

    def show_keys(self, listed: list[KeyInfo]) -> None:
        self.listed = {str(k.id): k for k in listed}
        self.query_one("#keys", Table).refill((str(k.id), self._row(k)) for k in listed)
        self.query_one("#keys-empty", EmptyNote).show(self.empty_message())

    def empty_message(self) -> str:
        if self.energy.can(Action.MANAGE_OWN_KEYS):
            return "No API keys yet: create one with n."
        return "No API keys yet: an operator or administrator can create one for you."

    def _row(self, k: KeyInfo) -> tuple[object, ...]:
        owner = (k.owner or "(none)",) if self.for_others else ()
        return (
            Text(k.prefix or "", style="bold"),
            k.name,
            *owner,
            ", ".join(k.permissions),
            Text(k.status, style=STATUS_STYLES.get(k.status, "")),
            when(k.expires_at, "never"),
            when(k.last_used, "never"),
            when(k.created_at),
        )

    # -- actions --------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_create(self) -> None:
        session = self.energy.session
        if session is None or not self.energy.can(Action.MANAGE_OWN_KEYS):
            return
        form: FormModal[CreatedKey] = FormModal(
            "New API key",
            key_fields(session.role, session.username, self.for_others),
            create_key(session.actor),
            hint="The key never holds more than its owner's role allows.",
            submit_label="Create",
        )
        self.app.push_screen(form, self.created)

    def created(self, created: CreatedKey | None) -> None:
        if created is None:
            return
        self.refresh_data()
        self.app.push_screen(KeyReveal(created))

    def action_revoke(self) -> None:
        key = self.listed.get(self.query_one("#keys", Table).selected_key() or "")
        if key is None:
            self.notify("No key selected.", severity="warning")
            return
        # a revoked key whose keys still work (revoked before revocation followed them):
        # the service revokes what is left of the chain, as the CLI and the API do
        left = [
            k
            for k in self.listed.values()
            if key.prefix and k.made_by == key.prefix and k.status == "active"
        ]
        if key.status == "revoked" and not left:
            self.notify(f"{key.prefix} is already revoked.", severity="warning")
            return
        detail = f"{key.prefix} · {key.name} · owner {key.owner} · {', '.join(key.permissions)}"
        if key.made_by:
            detail += f" · made by {key.made_by}"
        if key.status == "revoked":
            detail += f"\nIt is revoked; {len(left)} key(s) made with it still work: they stop."
            question = "Revoke the keys made with this API key?"
        else:
            detail += "\nScripts that use it stop working at once, and so do the keys made with it."
            question = "Revoke this API key?"
        self.app.push_screen(
            Confirm(question, detail, yes="Revoke"), lambda yes: self._revoke(key, yes)
        )

    def _revoke(self, key: KeyInfo, yes: bool | None) -> None:
        if yes:
            self.run_db(
                keys.revoke,
                self.energy.actor,
                str(key.id),
                then=self.revoked,
                group="revoke",
                exclusive=False,
            )

    def revoked(self, revoked: keys.Revoked) -> None:
        key = revoked.key
        if revoked.made_with:
            self.notify(revoked.message + ".", title="API keys revoked", timeout=15)
        else:
            self.notify(f"{key.prefix} ({key.name}) revoked.", title="API key revoked")
        self.refresh_data()
