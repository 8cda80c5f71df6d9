"""The energy-tui application: login first, then one mode per top-level screen.

The login screen paints before the database layer loads: this module and the login
screen import Textual and nothing heavy; the start worker then imports the screens,
services, Peewee and the drivers (`modes.py`), opens the database and enables the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Input, Label
from textual.worker import (
    Worker,
    WorkerCancelled,
    WorkerFailed,
    WorkerState,
    get_current_worker,
)

from energy_tui import clock
from energy_tui.config import Settings
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import (
    AuthError,
    ConfigError,
    DatabaseUnavailable,
    EnergyError,
    SessionChanged,
    SessionEnded,
)
from energy_tui.services.context import ssh_client_ip
from energy_tui.tui import settings_store
from energy_tui.tui.screens.help import HelpScreen
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.widgets.fields import settled, tab_bindings

if TYPE_CHECKING:
    from energy_tui.db.notify import ChangeListener
    from energy_tui.services.alerts import AlertView
    from energy_tui.services.auth import LoginResult
    from energy_tui.services.context import Actor
    from energy_tui.services.market import MarketRules
    from energy_tui.services.permissions import Action
    from energy_tui.tui.bridge import Bridge

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
# The change listener waits this long at a time, so that it stops soon after the app.
LISTEN_SLICE_SECONDS = 0.25
# Top-level screens (modes) in key order: F1/1 opens the first.
SCREENS = (
    ("book", "Order book"),
    ("trades", "Trades"),
    ("stats", "Statistics"),
    ("account", "Account"),
    ("keys", "API keys"),
    ("admin", "Admin"),
)
RETRY_SECONDS = 2.0
# Fired alerts a terminal shows: those fired since its login, less this much (another
# process's clock may run a little behind, and one that fired as the user logged in
# is still news).
ALERTS_LOOKBACK = dt.timedelta(seconds=30)
QUIT_LOGOUT_SECONDS = 3.0
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


class EndedLoginScreen(LoginScreen):
    """The login screen over the current one when the session ended: it says why."""

    def __init__(self, locked_user: str, reason: str) -> None:
        super().__init__(locked_user=locked_user)
        self.reason = reason

    def on_mount(self) -> None:
        for title in self.query(".form-title").results(Label):
            title.update("Session ended")
        # after LoginScreen's own on_mount, which hides the message line
        self.call_after_refresh(self.show_error, self.reason)


class EnergyApp(App[None]):
    """Screens are modes (F1-F6 or 1-6); the login screen comes first and comes back
    over whatever is open when the session ends (locked, idle, ended elsewhere)."""

    TITLE = "energy-tui"
    SUB_TITLE = "peer-to-peer energy market"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        *(
            Binding(f"f{i}", f"switch('{name}')", title, show=False)
            for i, (name, title) in enumerate(SCREENS, 1)
        ),
        *(
            Binding(str(i), f"switch('{name}')", title, show=False)
            for i, (name, title) in enumerate(SCREENS, 1)
        ),
        Binding("f9", "alerts", "Alerts", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+l", "lock", "Lock"),
        Binding("ctrl+o", "logout", "Log out"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        *tab_bindings(),
    ]

    db_online: reactive[bool] = reactive(True)

    def __init__(
        self,
        settings: Settings,
        url: DatabaseURL,
        auto_login: tuple[str, str] | None = None,
        login_hint: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.auto_login = auto_login
        self.login_hint = login_hint  # under the login form (the demo's users)
        self.settings = settings
        self.url = url
        self.session: LoginResult | None = None
        # set when this terminal's session ended (lock, idle, ended elsewhere) until the
        # next login: every service call but a login is refused meanwhile
        self.session_over: SessionEnded | None = None
        self.session_changed: Signal[Actor] = Signal(self, "session-changed")
        self.activity = 0  # keys and clicks so far: the session guard reports them
        self.market_version = -1
        self.market_changed: Signal[int] = Signal(self, "market-changed")
        self.change_listener: ChangeListener | None = None  # PostgreSQL: see listen_for_changes
        self.market_notifications = 0  # changes the listener reported
        # price alerts: shown are those fired since `alerts_since` (set at login) that
        # this terminal has not shown yet
        self.alerts_since = clock.now()
        self.alerts_shown: set[object] = set()
        self.last_activity = time.monotonic()
        self.available_modes: list[Mode] = []  # known once the start worker has loaded them
        self.rules: MarketRules  # the market's (the database's): at start, and when it moves
        self._bridge: Bridge | None = None
        self._loaded = threading.Event()  # set when the start worker has opened the database
        self._start_error: EnergyError | None = None
        self.add_mode(SIGNED_OUT, Screen)
        theme = settings_store.saved_theme()
        if theme in self.available_themes:
            self.theme = theme

    # -- start, login, logout -------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll_market)
        self.set_interval(15, self.lock_if_idle)
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember_theme(theme.name))
        self.call_after_refresh(self.start)

    def on_unmount(self) -> None:
        if self._bridge is not None:  # the SQLite connections it kept for the next calls
            self._bridge.close()

    def get_default_screen(self) -> Screen:
        """The login form is the first thing on screen."""
        return LoginScreen(hint=self.login_hint)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def start(self) -> None:
        """Load the database layer and open the database (retrying until it answers),
        then offer the first run, log in automatically or leave the login screen up.

        If it fails unexpectedly, a login typed meanwhile must not wait for ever on a
        database that will never open: the app ends with the reason (details logged)."""
        try:
            self._start()
        except Exception as exc:
            if self._loaded.is_set():
                raise  # opened already: the app's handler shows it
            log.error("the app could not start", exc_info=exc)
            self._start_error = EnergyError(f"could not open the database: {exc}")
            self._loaded.set()
            message = "energy-tui: could not start; details are in the log file"
            self.call_from_thread(self.exit, return_code=1, message=message)

    def _start(self) -> None:
        from energy_tui.services import auth, users
        from energy_tui.services.market import rules as market_rules
        from energy_tui.tui import modes
        from energy_tui.tui.bridge import Bridge
        from energy_tui.tui.session_guard import SessionGuard

        bridge = Bridge(self.url, SessionGuard(self))
        closing = get_current_worker().cancelled_event  # set when the app exits
        while True:
            try:
                bridge.open(self.settings)
                first_run = bridge.call(users.count) == 0
                rules = bridge.call(market_rules.current)
                break
            except DatabaseUnavailable:
                self.call_from_thread(setattr, self, "db_online", False)
                if closing.wait(RETRY_SECONDS):
                    return
            except ConfigError as exc:  # a server schema behind the code, a missing driver
                self._start_error = exc  # for a login typed meanwhile, waiting on the bridge
                self._loaded.set()
                message = f"energy-tui: {exc}"
                self.call_from_thread(self.exit, return_code=exc.exit_code, message=message)
                return
        available = [
            Mode(name, f"f{i}", title, *modes.SCREENS[name])
            for i, (name, title) in enumerate(SCREENS, 1)
        ]
        self.call_from_thread(self.loaded, bridge, rules, available)
        if first_run:
            self.call_from_thread(self.offer_first_run)
        elif self.auto_login is not None:
            username, password = self.auto_login
            result = bridge.call(
                auth.authenticate, username, password, ssh_client_ip(), self.settings
            )
            self.call_from_thread(self.logged_in, result)

    def loaded(self, bridge: Bridge, rules: MarketRules, available: list[Mode]) -> None:
        self.db_online = True
        self.rules = rules
        self.available_modes = available
        for mode in available:
            self.add_mode(mode.name, mode.factory)
        self._bridge = bridge
        self._loaded.set()
        self.listen_for_changes()

    @property
    def bridge(self) -> Bridge:
        """Service calls, for workers; one that starts before the start worker has opened
        the database (a login typed at once) waits for it."""
        if not self._loaded.is_set():
            if threading.current_thread() is threading.main_thread():
                raise RuntimeError("the database is not open yet: call the bridge from a worker")
            worker = get_current_worker()
            while not self._loaded.wait(0.2):
                if worker.is_cancelled:  # the app is exiting: do not hold the process open
                    raise WorkerCancelled("the app closed before the database opened")
        if self._bridge is None:
            raise self._start_error or RuntimeError("the database was not opened")
        return self._bridge

    def offer_first_run(self) -> None:
        """No users yet: the first-run form goes over the login form (with a typed name)."""
        login = self.screen_stack[0]
        typed = login.query_one("#username", Input).value if isinstance(login, LoginScreen) else ""
        self.push_screen(FirstRunScreen(username=typed))

    @property
    def actor(self) -> Actor | None:
        return self.session.actor if self.session else None

    def can(self, action: Action) -> bool:
        return self.session is not None and self.session.may(action)

    def modes_for_user(self) -> list[Mode]:
        return [m for m in self.available_modes if any(self.can(a) for a in m.needs)]

    def logged_in(self, result: LoginResult) -> None:
        """Called by the login screens (on the UI thread) after a successful login."""
        before = self.session
        relogin = before is not None and before.user_id == result.user_id
        self.session = result
        self.session_over = None
        self.last_activity = time.monotonic()
        if not relogin:  # after an unlock, alerts that fired meanwhile still ring
            self.alerts_since = clock.now() - ALERTS_LOOKBACK
            self.alerts_shown = set()
            self.market_version = -1  # the next poll checks the alerts at once
        if isinstance(self.screen, LoginScreen | FirstRunScreen) and len(self.screen_stack) > 1:
            self.pop_screen()  # the lock screen, or the login after a logout
        if not relogin:
            self.switch_mode("book")
        elif before is not None and before.actor != result.actor:
            self.follow_actor()  # their role or prosumer changed while the screen was locked
        self.notify(f"Logged in as {result.username} ({result.role})", timeout=3)

    # -- the session ending or changing under the app (see session_guard.py) -------------

    def session_lost(self, token: str, error: SessionEnded) -> None:
        """The session check found this terminal's session over: log in again."""
        if self.session is None or self.session.token != token or self.session_over:
            return  # a call that was under way when it ended, or a session already replaced
        self.session_over = error
        self.notify(str(error), severity="error", timeout=10)
        self.show_login(str(error))

    def session_changed_to(self, token: str, actor: Actor) -> None:
        """The session check found the user changed (role, prosumer): act as they are now."""
        if self.session is None or self.session.token != token or self.session.actor == actor:
            return
        self.session = dataclasses.replace(self.session, actor=actor, role=actor.role)
        self.notify(f"Your account changed: role {actor.role}", severity="warning", timeout=10)
        self.follow_actor()

    def follow_actor(self) -> None:
        """Leave a screen the user may no longer open; let the screens re-evaluate."""
        allowed = {mode.name for mode in self.modes_for_user()}
        if self.current_mode not in allowed and not isinstance(self.screen, LoginScreen):
            self.switch_mode("book")
        self.refresh_bindings()
        if self.session is not None:
            self.session_changed.publish(self.session.actor)

    def show_login(self, reason: str = "") -> None:
        """The login screen over the current one (unless one is up already)."""
        if self.session is None or isinstance(self.screen, LoginScreen):
            return
        username = self.session.username
        self.push_screen(EndedLoginScreen(username, reason) if reason else LoginScreen(username))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Lock and screen switching mean nothing before a login, nor Lock on the
        login screen (the lock screen is one)."""
        if action == "lock" and isinstance(self.screen, LoginScreen | FirstRunScreen):
            return False
        return self.session is not None or action not in ("lock", "switch", "logout", "alerts")

    def action_lock(self) -> None:
        """Ctrl+L: the session ends too (reason `locked`): unlocking is a new login,
        which starts a new session, so the old one would only linger open."""
        self.lock("locked")

    def lock(self, reason: str) -> None:
        """End this terminal's session for `reason` (locked, idle) and ask to log in."""
        if self.session is None or isinstance(self.screen, LoginScreen):
            return
        if self.session_over is None:
            from energy_tui.services.auth import ended_message

            self.session_over = SessionEnded(ended_message(reason, self.settings), reason)
            self.end_session(self.session.token, reason)
        self.show_login("" if reason == "locked" else str(self.session_over))

    def action_logout(self) -> None:
        if self.session is not None and self.session_over is None:
            self.end_session(self.session.token)
        self.session = None
        self.session_over = None
        self.switch_mode(SIGNED_OUT)
        for mode in self.available_modes:
            self.remove_mode(mode.name)
            self.add_mode(mode.name, mode.factory)
        self.push_screen(LoginScreen(hint=self.login_hint))

    @work(thread=True, group="session", exit_on_error=False)
    def end_session(self, token: str, reason: str = "logout") -> None:
        from energy_tui.services import auth

        self.bridge.call(auth.end_session, token, reason)

    async def action_quit(self) -> None:
        """Quitting logs out: the session ends (and is audited) instead of lingering
        until it times out. A database that does not answer soon does not keep the
        app open."""
        if self.session is not None and self._loaded.is_set():
            ending = self.end_session(self.session.token)
            try:
                await asyncio.wait_for(ending.wait(), QUIT_LOGOUT_SECONDS)
            except (TimeoutError, WorkerFailed, WorkerCancelled):
                log.warning("quit without ending the session", exc_info=True)
        self.exit()

    def lock_if_idle(self) -> None:
        idle = time.monotonic() - self.last_activity
        if self.session is not None and idle >= self.settings.session_idle_minutes * 60:
            self.lock("idle")

    async def on_event(self, event: events.Event) -> None:
        # Every key and click as it arrives, before any widget sees it: keys typed into a
        # field never bubble back up to the app's on_key.
        if isinstance(event, events.Key | events.MouseDown) and not event.is_forwarded:
            self.active()
        await super().on_event(event)

    def active(self) -> None:
        """The user did something: no idle lock yet, and the next service call moves the
        session's `last_seen` (at most once a minute)."""
        self.last_activity = time.monotonic()
        self.activity += 1

    # -- navigation, help, palette ----------------------------------------------------------

    def action_switch(self, name: str) -> None:
        if self.session is None or isinstance(self.screen, LoginScreen | FirstRunScreen):
            return
        if any(mode.name == name for mode in self.modes_for_user()):
            self.switch_mode(name)
            return
        mode = next((m for m in self.available_modes if m.name == name), None)
        if mode is not None:  # a key that does nothing would look broken
            self.notify(
                f"The {mode.title} screen ({mode.key.upper()}) needs the {_roles_for(mode)} "
                f"role; you are logged in as {self.session.role}.",
                title="Not for your role",
                severity="warning",
            )

    async def action_next_field(self) -> None:
        """Tab, once the field has applied what was typed before it (fields.py)."""
        await settled(self.focused)
        self.screen.focus_next()

    async def action_previous_field(self) -> None:
        await settled(self.focused)
        self.screen.focus_previous()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_alerts(self) -> None:
        """F9: the user's price alerts, over the current screen."""
        from energy_tui.tui.screens.alerts import AlertsScreen

        if self.session is None or isinstance(self.screen, LoginScreen | FirstRunScreen):
            return
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

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
        yield SystemCommand("Price alerts", "Set or remove price alerts (F9)", self.action_alerts)
        yield SystemCommand("Lock", "Lock the screen (Ctrl+L)", self.action_lock)
        yield SystemCommand("Log out", "End this session (Ctrl+O)", self.action_logout)

    def remember_theme(self, name: str) -> None:
        try:
            settings_store.save_theme(name)
        except OSError:
            log.warning("could not save the theme", exc_info=True)

    # -- the market change marker and the database banner ---------------------------------

    def poll_market(self) -> None:
        """Every second: the market's version, which also checks the session (so one
        ended elsewhere is noticed at once). The poll itself is not activity."""
        if self.session is not None and self.session_over is None:
            self.read_market_version()

    def listen_for_changes(self) -> None:
        """PostgreSQL: read the market's version as soon as a change commits anywhere
        (LISTEN/NOTIFY), not only at the next poll. The 1 s poll goes on regardless: it
        is all there is on SQLite and MySQL, and while the listener reconnects. The
        listener waits in a daemon thread of its own (not a worker: it lasts as long as
        the app, and waiting for the workers to finish must not wait for it)."""
        from energy_tui.services.market import changes

        listener = changes.listener()
        if listener is None:
            return
        self.change_listener = listener
        thread = threading.Thread(
            target=self._listen, args=(listener,), name="market-changes", daemon=True
        )
        thread.start()

    def _listen(self, listener: ChangeListener) -> None:
        try:
            while not listener.closed and self.is_running:
                if listener.wait_for_change(LISTEN_SLICE_SECONDS) and self.is_running:
                    self.call_from_thread(self.market_notified)
        except RuntimeError:  # the app stopped between the notification and the call
            pass
        finally:
            listener.close()

    def market_notified(self) -> None:
        """A change committed somewhere: read the version now (as the poll does)."""
        self.market_notifications += 1
        self.poll_market()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def read_market_version(self) -> None:
        from energy_tui.services import alerts
        from energy_tui.services.market import book as market_book
        from energy_tui.services.market import rules as market_rules

        version = self.bridge.call(market_book.version)
        moved = version != self.market_version
        # a rule change moves the marker too: the previews and checks follow it
        rules = self.bridge.call(market_rules.current) if moved else None
        actor = self.actor
        if moved and actor is not None:  # a trade may have reached someone's alert
            fired = self.bridge.call(alerts.check, actor, self.alerts_since)
            self.call_from_thread(self.alerts_fired, fired)
        self.call_from_thread(self.market_version_read, version, rules)

    def alerts_fired(self, fired: list[AlertView]) -> None:
        """A toast and the bell once for each of the user's fired alerts not shown here
        yet (every terminal of the user runs this, so each shows it)."""
        for alert in fired:
            if alert.id in self.alerts_shown:
                continue
            self.alerts_shown.add(alert.id)
            self.notify(
                f"Traded at {alert.fired_price}: at or {alert.direction} your {alert.price}",
                title="Price alert",
                severity="warning",
                timeout=15,
            )
            self.bell()

    def market_version_read(self, version: int, rules: MarketRules | None = None) -> None:
        self.db_online = True
        if rules is not None:
            self.rules = rules
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
        elif isinstance(error, SessionEnded | SessionChanged):
            pass  # the session guard has told the app already (login screen, new role)
        elif isinstance(error, AuthError) and self.session is not None:
            self.notify(str(error), severity="error")
            self.action_lock()
        elif isinstance(error, EnergyError):
            self.notify(str(error), severity="error")
        else:
            log.error("unexpected error in %s", event.worker.name, exc_info=error)
            self.notify("Something went wrong; details are in the log file.", severity="error")


def _roles_for(mode: Mode) -> str:
    """The roles that may open `mode`: "operator or admin"."""
    from energy_tui.services.permissions import ROLE_ACTIONS

    roles = [role for role, actions in ROLE_ACTIONS.items() if actions & set(mode.needs)]
    return " or ".join(roles)


def make_app(
    settings: Settings,
    url: DatabaseURL,
    auto_login: tuple[str, str] | None = None,
    login_hint: str = "",
) -> EnergyApp:
    """The app as `energy-tui`, `energy-tui demo` and the tests build it."""
    return EnergyApp(settings, url, auto_login, login_hint)
