"""The session check in front of every service call the TUI makes (the bridge's gate).

A terminal's session can end elsewhere (logout, password change, the user disabled)
or run out (idle, absolute lifetime), and its user's role or prosumer can change while
it is open. So before each call, on the call's own connection, one SELECT of the
session joined to its user (`auth.check_session`) says whether it may still act and
who the user is now; the call runs only if the session is open and the user is still
who the call was prepared for. Otherwise nothing is run, the app hears of it (login
screen with the reason, or its session updated and the screens re-evaluated) and the
caller gets SessionEnded or SessionChanged. The same call reports the user's activity
(keys, clicks) so `last_seen` moves, at most once a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from energy_tui.errors import SessionChanged, SessionEnded
from energy_tui.runtime import ensure_schema, rules_notice
from energy_tui.services import auth, users
from energy_tui.services.context import Actor
from energy_tui.services.market import rules as market_rules

if TYPE_CHECKING:
    from energy_tui.tui.app import EnergyApp

# What runs without a session: opening the database, the first run, logging in and
# ending a session, and reading the market rules (public, needed before any login).
SESSIONLESS: frozenset[Callable[..., Any]] = frozenset(
    {
        ensure_schema,
        rules_notice,
        market_rules.current,
        users.count,
        users.create_first_admin,
        auth.authenticate,
        auth.logout,
        auth.end_session,
    }
)
NOT_LOGGED_IN = "you are not logged in: log in first"


def same_user(a: Actor, b: Actor) -> bool:
    """Whether a call prepared for `a` may run for `b`: same user, role and prosumer."""
    return (a.user_id, a.username, a.role, a.prosumer_address) == (
        b.user_id,
        b.username,
        b.role,
        b.prosumer_address,
    )


def changed_message(actor: Actor) -> str:
    prosumer = actor.prosumer_address or "none"
    return (
        f"your account changed (role {actor.role}, prosumer {prosumer}): "
        "nothing was done; look again and retry"
    )


class SessionGuard:
    """The bridge's gate for `app`: runs in worker threads, tells the app on its thread."""

    def __init__(self, app: EnergyApp) -> None:
        self.app = app
        self._reported: tuple[str, int] = ("", 0)  # (token, activity count last written)

    def __call__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        actor: Actor | None,
    ) -> None:
        if fn in SESSIONLESS:
            return
        session, over = self.app.session, self.app.session_over
        if over is not None:  # ended or locked here: refused without asking the database
            raise over
        if session is None:
            raise SessionEnded(NOT_LOGGED_IN)
        fresh = self._check(session.token)
        prepared = [session.actor, *_actors(args, kwargs)]
        if actor is not None:
            prepared.append(actor)
        if not all(same_user(a, fresh) for a in prepared):
            self.app.call_from_thread(self.app.session_changed_to, session.token, fresh)
            raise SessionChanged(changed_message(fresh), fresh)

    def _check(self, token: str) -> Actor:
        activity = self.app.activity
        reported_token, reported = self._reported
        if reported_token != token:  # a new login counts as seen
            reported = activity
            self._reported = (token, activity)
        try:
            state = auth.check_session(token, self.app.settings, seen=activity > reported)
        except SessionEnded as error:
            self.app.call_from_thread(self.app.session_lost, token, error)
            raise
        if state.touched:
            self._reported = (token, activity)
        return state.actor


def _actors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Actor]:
    return [a for a in (*args, *kwargs.values()) if isinstance(a, Actor)]
