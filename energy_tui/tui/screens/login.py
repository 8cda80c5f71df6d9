"""Login (also the lock screen) and the first-run screen that creates the first admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from energy_tui.errors import EnergyError
from energy_tui.services.context import ssh_client_ip
from energy_tui.tui.widgets.banner import ConnectionBanner
from energy_tui.tui.widgets.fields import TextField, enter_binding, enter_field, in_text_field
from energy_tui.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from energy_tui.services.auth import LoginResult
    from energy_tui.tui.app import EnergyApp

# The services are imported in the submit workers: these screens paint before the
# database layer has loaded (see app.py).


class _Form(Screen[None]):
    """A centered form whose submission runs in a worker and reports errors inline.
    Enter in a field moves to the next one and submits from the last."""

    BINDINGS = [enter_binding()]

    @property
    def energy(self) -> EnergyApp:
        return self.app  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "enter_field" or in_text_field(self)

    async def action_enter_field(self) -> None:
        await enter_field(self, self.submit)

    def submit(self) -> None:
        """Check the fields and submit them; override."""

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(message)
        self.query_one("#form-error").display = bool(message)
        self.set_busy(False)

    def failed(self, message: str) -> None:
        """The submission was refused with `message`."""
        self.show_error(message)

    def set_busy(self, busy: bool) -> None:
        self.query_one("#submit", Button).disabled = busy

    def run_submit(self, job) -> None:  # type: ignore[no-untyped-def]
        def guarded() -> None:
            try:
                job()
            except EnergyError as exc:
                self.app.call_from_thread(self.failed, str(exc))

        self.set_busy(True)
        self.show_error("")
        self.run_worker(guarded, thread=True, exclusive=True, group="login", exit_on_error=False)


class LoginScreen(_Form):
    """Username and masked password; Enter submits. With `locked_user` it is the lock
    screen: the same user must log in again to return to where they were."""

    BINDINGS = [("ctrl+q", "app.quit", "Quit")]

    def __init__(self, locked_user: str | None = None, hint: str = "") -> None:
        """`hint`: a note under the form (the demo's users and passwords)."""
        super().__init__()
        self.locked_user, self.hint = locked_user, hint

    def compose(self) -> ComposeResult:
        yield ConnectionBanner()
        with Center(), Vertical(classes="form"):
            title = "Screen locked" if self.locked_user else "Log in to energy-tui"
            yield Label(title, classes="form-title")
            if self.locked_user:
                yield Static(
                    f"Enter the password of {self.locked_user} to continue.", classes="form-hint"
                )
            yield TextField(
                value=self.locked_user or "",
                placeholder="username",
                id="username",
                disabled=bool(self.locked_user),
                max_length=50,
            )
            yield TextField(placeholder="password", password=True, id="password")
            yield Static("", id="form-error", classes="form-error")
            yield Button("Log in", id="submit", variant="primary")
            if self.hint and not self.locked_user:
                yield Static(self.hint, id="login-hint", classes="form-hint", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#form-error").display = False
        self.query_one("#password" if self.locked_user else "#username", Input).focus()

    @on(Button.Pressed, "#submit")
    def submit(self) -> None:
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not username or not password:
            self.show_error("Enter your username and password.")
            return
        settings = self.energy.settings

        def job() -> None:
            from energy_tui.services import auth

            result = self.energy.bridge.call(
                auth.authenticate, username, password, ssh_client_ip(), settings
            )
            self.app.call_from_thread(self.succeeded, result)

        self.run_submit(job)

    def failed(self, message: str) -> None:
        """Start the password afresh: a retry typed after the refused one must not be
        appended to it (and counted as one more failed login)."""
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
        self.show_error(message)

    def succeeded(self, result: LoginResult) -> None:
        self.query_one("#password", Input).value = ""
        self.energy.logged_in(result)


class FirstRunScreen(_Form):
    """No users yet: create the first administrator, then log in as them."""

    BINDINGS = [("ctrl+q", "app.quit", "Quit")]

    def __init__(self, username: str = "") -> None:
        super().__init__()
        self.username = username

    def compose(self) -> ComposeResult:
        yield ConnectionBanner()
        with Center(), Vertical(classes="form"):
            yield Label("Welcome to energy-tui", classes="form-title")
            yield Static(
                "There are no accounts yet. Create the first administrator.", classes="form-hint"
            )
            yield TextField(placeholder="username", id="username", max_length=50)
            yield TextField(placeholder="email", id="email", max_length=100)
            yield TextField(placeholder="password (8+ characters)", password=True, id="password")
            yield TextField(placeholder="password again", password=True, id="password2")
            yield Static("", id="form-error", classes="form-error")
            yield Button("Create and log in", id="submit", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#form-error").display = False
        username = self.query_one("#username", Input)
        username.value = self.username  # (not in compose: the screen is not yet current)
        username.focus()

    @on(Button.Pressed, "#submit")
    def submit(self) -> None:
        values = {i.id: i.value for i in self.query(Input)}
        if values["password"] != values["password2"]:
            self.show_error("The two passwords differ.")
            return
        settings = self.energy.settings

        def job() -> None:
            from energy_tui.services import auth, passwords, users

            passwords.check_rules(values["password"])
            bridge = self.energy.bridge
            bridge.call(
                users.create_first_admin,
                values["username"],
                values["email"],
                values["password"],
                rounds=settings.bcrypt_rounds,
            )
            result = bridge.call(
                auth.authenticate,
                values["username"].strip(),
                values["password"],
                ssh_client_ip(),
                settings,
            )
            self.app.call_from_thread(self.energy.logged_in, result)

        self.run_submit(job)
