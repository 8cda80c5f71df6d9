"""The energy-tui application: login first, then one mode per top-level screen."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from energy_tui.config import Settings
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import AuthError, DatabaseUnavailable, EnergyError
from energy_tui.services import auth, users
from energy_tui.services.context import ssh_client_ip
from energy_tui.services.market import MarketRules
from energy_tui.services.market import book as market_book
from energy_tui.services.permissions import Action, allows
from energy_tui.tui import settings_store
from energy_tui.tui.bridge import Bridge
from energy_tui.tui.screens.account import AccountScreen
from energy_tui.tui.screens.admin import AdminScreen
from energy_tui.tui.screens.help import HelpScreen
from energy_tui.tui.screens.keys import KeysScreen
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.screens.order_book import OrderBookScreen
from energy_tui.tui.screens.stats import StatsScreen
from energy_tui.tui.screens.trades import TradesScreen

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
# Top-level screens in key order: F1/1 is the first.
SCREEN_KEYS = (
    ("book", "Book"),
    ("trades", "Trades"),
    ("stats", "Stats"),
    ("account", "Account"),
    ("keys", "Keys"),
    ("admin", "Admin"),
)
RETRY_SECONDS = 2.0
# The empty mode under the login screen after a logout (Textual cannot switch back to
# its own default mode).
SIGNED_OUT = "signed-out"


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    key: str
    title: str
    factory: Callable[[], Screen]
    needs: tuple[Action, ...]  # any of these


def _modes() -> list[Mode]:
    return [
        Mode("book", "f1", "Order book", OrderBookScreen, (Action.READ_MARKET,)),
        Mode("trades", "f2", "Trades", TradesScreen, (Action.READ_MARKET,)),
        Mode("stats", "f3", "Statistics", StatsScreen, (Action.READ_MARKET,)),
        Mode("account", "f4", "Account", AccountScreen, (Action.READ_MARKET,)),
        Mode("keys", "f5", "API keys", KeysScreen, (Action.READ_MARKET,)),
        Mode(
            "admin",
            "f6",
            "Admin",
            AdminScreen,
            (Action.MANAGE_PROSUMERS, Action.MANAGE_USERS, Action.READ_AUDIT),
        ),
    ]


class EnergyApp(App[None]):
    """Screens are modes (F1-F6 or 1-6); the login screen comes first and comes back
    over whatever is open when the session goes idle."""

    TITLE = "energy-tui"
    SUB_TITLE = "peer-to-peer energy market"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        *(
            Binding(f"f{i}", f"switch('{name}')", title, show=False)
            for i, (name, title) in enumerate(SCREEN_KEYS, 1)
        ),
        *(
            Binding(str(i), f"switch('{name}')", title, show=False)
            for i, (name, title) in enumerate(SCREEN_KEYS, 1)
        ),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+l", "lock", "Lock"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    db_online: reactive[bool] = reactive(True)

    def __init__(
        self,
        settings: Settings,
        url: DatabaseURL,
        auto_login: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.auto_login = auto_login
        self.settings = settings
        self.bridge = Bridge(url)
        self.rules = MarketRules.from_settings(settings)
        self.session: auth.LoginResult | None = None
        self.market_version = -1
        self.market_changed: Signal[int] = Signal(self, "market-changed")
        self.last_activity = time.monotonic()
        self.available_modes = _modes()
        self.add_mode(SIGNED_OUT, Screen)
        for mode in self.available_modes:
            self.add_mode(mode.name, mode.factory)
        theme = settings_store.saved_theme()
        if theme in self.available_themes:
            self.theme = theme

    # -- start, login, logout -------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll_market)
        self.set_interval(15, self.lock_if_idle)
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember_theme(theme.name))
        self.start()

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def start(self) -> None:
        """First run or login, once the database answers (retrying until it does)."""
        while True:
            try:
                first_run = self.bridge.call(users.count) == 0
                break
            except DatabaseUnavailable:
                self.call_from_thread(setattr, self, "db_online", False)
                time.sleep(RETRY_SECONDS)
        self.call_from_thread(setattr, self, "db_online", True)
        if self.auto_login is not None and not first_run:
            username, password = self.auto_login
            result = self.bridge.call(
                auth.authenticate, username, password, ssh_client_ip(), self.settings
            )
            self.call_from_thread(self.logged_in, result)
            return
        self.call_from_thread(self.push_screen, FirstRunScreen() if first_run else LoginScreen())

    @property
    def actor(self) -> Any:
        return self.session.actor if self.session else None

    def can(self, action: Action) -> bool:
        return self.session is not None and allows(self.session.actor, action)

    def modes_for_user(self) -> list[Mode]:
        return [m for m in self.available_modes if any(self.can(a) for a in m.needs)]

    def logged_in(self, result: auth.LoginResult) -> None:
        """Called by the login screens (on the UI thread) after a successful login."""
        relogin = self.session is not None and self.session.user_id == result.user_id
        self.session = result
        self.last_activity = time.monotonic()
        if isinstance(self.screen, LoginScreen | FirstRunScreen):
            self.pop_screen()
        if not relogin:
            self.switch_mode("book")
        self.notify(f"Logged in as {result.username} ({result.role})", timeout=3)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Lock and screen switching mean nothing before a login."""
        return self.session is not None or action not in ("lock", "switch")

    def action_lock(self) -> None:
        if self.session is not None and not isinstance(self.screen, LoginScreen):
            self.push_screen(LoginScreen(locked_user=self.session.username))

    def action_logout(self) -> None:
        if self.session is not None:
            self.end_session(self.session.token)
        self.session = None
        self.switch_mode(SIGNED_OUT)
        for mode in self.available_modes:
            self.remove_mode(mode.name)
            self.add_mode(mode.name, mode.factory)
        self.push_screen(LoginScreen())

    @work(thread=True, group="session", exit_on_error=False)
    def end_session(self, token: str) -> None:
        self.bridge.call(auth.logout, token)

    def lock_if_idle(self) -> None:
        idle = time.monotonic() - self.last_activity
        if self.session is not None and idle >= self.settings.session_idle_minutes * 60:
            self.action_lock()

    def on_key(self) -> None:
        self.last_activity = time.monotonic()

    def on_click(self) -> None:
        self.last_activity = time.monotonic()

    # -- navigation, help, palette ----------------------------------------------------------

    def action_switch(self, name: str) -> None:
        if self.session is None or isinstance(self.screen, LoginScreen | FirstRunScreen):
            return
        if any(mode.name == name for mode in self.modes_for_user()):
            self.switch_mode(name)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.session is None:
            return
        for mode in self.modes_for_user():
            yield SystemCommand(
                f"Go to {mode.title}",
                f"Open the {mode.title} screen ({mode.key.upper()})",
                lambda n=mode.name: self.action_switch(n),
            )
        yield SystemCommand("Lock", "Lock the screen (Ctrl+L)", self.action_lock)
        yield SystemCommand("Log out", "End this session", self.action_logout)

    def remember_theme(self, name: str) -> None:
        try:
            settings_store.save_theme(name)
        except OSError:
            log.warning("could not save the theme", exc_info=True)

    # -- the market change marker and the database banner ---------------------------------

    def poll_market(self) -> None:
        if self.session is not None:
            self.read_market_version()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def read_market_version(self) -> None:
        version = self.bridge.call(market_book.version)
        self.call_from_thread(self.market_version_read, version)

    def market_version_read(self, version: int) -> None:
        self.db_online = True
        if version != self.market_version:
            self.market_version = version
            self.market_changed.publish(version)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """One place for every worker's errors: banner, inline message or log."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, DatabaseUnavailable):
            self.db_online = False
        elif isinstance(error, AuthError) and self.session is not None:
            self.notify(str(error), severity="error")
            self.action_lock()
        elif isinstance(error, EnergyError):
            self.notify(str(error), severity="error")
        else:
            log.error("unexpected error in %s", event.worker.name, exc_info=error)
            self.notify("Something went wrong; details are in the log file.", severity="error")


def make_app(
    settings: Settings, url: DatabaseURL, auto_login: tuple[str, str] | None = None
) -> EnergyApp:
    """The app as `energy-tui`, `energy-tui demo` and the tests build it."""
    return EnergyApp(settings, url, auto_login)
