"""Password login, sessions and their timeouts (DESIGN §4; PITFALLS: bcrypt, security).

Every failed login costs one bcrypt call at the configured cost (and, for a user whose
stored hash is cheaper, that hash's check before it: `passwords.verify`), made before
the transaction that records the outcome, so no lock is held while bcrypt runs. What a
guesser sees is only "invalid username or password"; the lockout and disabled messages
come only after the correct password, and the audit row keeps the real reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid

import bcrypt

from energy_tui import clock
from energy_tui.config import Settings
from energy_tui.db.identity import same_text
from energy_tui.db.locking import for_update
from energy_tui.db.models import Session, User, db
from energy_tui.errors import AuthError, SessionEnded
from energy_tui.services import audit, passwords, sessions
from energy_tui.services.context import Actor, ssh_client_ip
from energy_tui.services.permissions import Action, allows

GENERIC_FAILURE = "invalid username or password"
MAX_USERNAME = 50  # users.username is VARCHAR(50)
_NEVER_MATCHES = "\x00" * (passwords.MAX_BYTES + 1)  # too long: spends bcrypt, never matches


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """A successful login. `token` is shown to the caller once and never stored."""

    token: str
    actor: Actor
    session_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    role: str
    rehashed: bool

    def may(self, action: Action) -> bool:
        """Whether this session's user may do `action` (their role decides)."""
        return allows(self.actor, action)


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    id: uuid.UUID
    created_at: dt.datetime
    last_seen: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    ip_address: str | None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @classmethod
    def of(cls, row: Session) -> SessionInfo:
        return cls(
            row.id, row.created_at, row.last_seen, row.ended_at, row.end_reason, row.ip_address
        )


@dataclasses.dataclass(frozen=True)
class _Attempt:
    attempted: str  # what was typed as the username, cut to the column's width
    user_id: uuid.UUID | None
    verified_hash: str | None
    password_ok: bool
    new_hash: str | None
    ip: str | None


def actor_for_session(user: User, session: Session | None = None) -> Actor:
    """The actor a logged-in user acts as, from the session's client address (or, with
    no session, this process's SSH client address)."""
    return actor_for_user(user, session.ip_address if session is not None else ssh_client_ip())


def actor_for_user(user: User, ip: str | None) -> Actor:
    return Actor(
        label=f"user:{user.username}",
        role=user.role,
        user_id=user.id,
        username=user.username,
        prosumer_address=user.prosumer_address,
        ip_address=ip,
    )


def authenticate(username: str, password: str, ip: str | None, settings: Settings) -> LoginResult:
    """Log in with a password; raise AuthError with a message fit for the user.

    `ip` None means the SSH client address, if there is one.
    """
    attempt = _verify(username, password, ip or ssh_client_ip(), settings.bcrypt_rounds)
    with db.atomic():
        outcome = _settle(attempt, settings)
    if isinstance(outcome, AuthError):
        raise outcome
    return outcome


def _verify(username: str, password: str, ip: str | None, rounds: int) -> _Attempt:
    """Everything slow, outside any transaction: the lookup and the one bcrypt call."""
    name = _lookup_name(username)
    user = User.get_or_none(same_text(User.username, name)) if name else None
    stored = user.password_hash if user is not None else None
    secret = _encodable(password)
    ok = passwords.verify(secret, stored, rounds)
    new_hash = None
    if ok and passwords.cost_of(stored or "") < rounds:
        new_hash = bcrypt.hashpw(secret.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")
    attempted = (username or "").strip()[:MAX_USERNAME]
    return _Attempt(attempted, user.id if user else None, stored, ok, new_hash, ip and ip[:64])


def _lookup_name(username: str) -> str | None:
    name = (username or "").strip()
    if not name or len(name) > MAX_USERNAME or "\x00" in name:
        return None
    return name


def _encodable(password: str) -> str:
    """A password that cannot be UTF-8 encoded (lone surrogates) can match nothing."""
    try:
        (password or "").encode("utf-8")
    except UnicodeEncodeError:
        return _NEVER_MATCHES
    return password or ""


def _settle(attempt: _Attempt, settings: Settings) -> LoginResult | AuthError:
    """Record the outcome under the user's row lock; return the result or the error."""
    user = None
    if attempt.user_id is not None:
        user = for_update(User.select().where(User.id == attempt.user_id)).first()
    if user is None:
        anonymous = Actor(label="anonymous", role="viewer", ip_address=attempt.ip)
        # what was typed may be a password in the wrong field: keep only its keyed hash
        _audit_failure(anonymous, "unknown_user", username_hmac=audit.keyed_hash(attempt.attempted))
        return AuthError(GENERIC_FAILURE)
    now = clock.now()
    actor = actor_for_user(user, attempt.ip)
    password_ok = attempt.password_ok and user.password_hash == attempt.verified_hash
    if user.locked_until is not None and user.locked_until > now:
        _audit_failure(actor, "locked")
        return AuthError(
            _locked_message(user.locked_until, now) if password_ok else GENERIC_FAILURE
        )
    if not password_ok:
        return _count_failure(user, actor, now, settings)
    if not user.is_active:
        _audit_failure(actor, "inactive")
        return AuthError("this account is disabled: ask an operator to enable it")
    return _succeed(user, attempt, now)


def _audit_failure(actor: Actor, reason: str, **data: object) -> None:
    audit.record("login_failed", actor, outcome="failure", reason=reason, **data)


def _locked_message(until: dt.datetime, now: dt.datetime) -> str:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return (
        f"this account is locked after too many failed logins: try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''} (at {until:%H:%M} UTC), or ask an operator"
    )


def _count_failure(user: User, actor: Actor, now: dt.datetime, settings: Settings) -> AuthError:
    expired_lock = user.locked_until is not None  # a lock that ran out starts a new count
    failures = (0 if expired_lock else user.failed_logins or 0) + 1
    locks = failures >= settings.login_max_failures
    until = now + dt.timedelta(minutes=settings.login_lockout_minutes) if locks else None
    User.update(failed_logins=failures, locked_until=until).where(User.id == user.id).execute()
    _audit_failure(actor, "bad_password", failures=failures)
    if locks:
        audit.record(
            "account_locked",
            actor,
            outcome="failure",
            failures=failures,
            locked_until=until,
            minutes=settings.login_lockout_minutes,
        )
    return AuthError(GENERIC_FAILURE)


def _succeed(user: User, attempt: _Attempt, now: dt.datetime) -> LoginResult:
    fields: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login": now}
    if attempt.new_hash is not None:
        fields["password_hash"] = attempt.new_hash
    User.update(**fields).where(User.id == user.id).execute()
    session, token = sessions.start(user, attempt.ip)
    actor = actor_for_session(user, session)
    audit.record("user_login", actor, session_id=session.id, rehashed=attempt.new_hash is not None)
    return LoginResult(
        token, actor, session.id, user.id, user.username, user.role, attempt.new_hash is not None
    )


WRONG_CURRENT = "the current password is not right"


def confirm_password(username: str, password: str, settings: Settings) -> None:
    """Check a logged-in user's password again before a sensitive change (a password
    change); raise AuthError if it is wrong.

    It costs one bcrypt call like a login and a wrong password counts as a failed
    login (audited, and locking the account after too many), so it cannot be used to
    guess the password either. No session is started.
    """
    attempt = _verify(username, password, ssh_client_ip(), settings.bcrypt_rounds)
    with db.atomic():
        error = _settle_confirmation(attempt, settings)
    if error is not None:
        raise error


def _settle_confirmation(attempt: _Attempt, settings: Settings) -> AuthError | None:
    user = None
    if attempt.user_id is not None:
        user = for_update(User.select().where(User.id == attempt.user_id)).first()
    if user is None:
        return AuthError(WRONG_CURRENT)
    now = clock.now()
    actor = actor_for_user(user, attempt.ip)
    if user.locked_until is not None and user.locked_until > now:
        _audit_failure(actor, "locked", purpose="confirm_password")
        return AuthError(_locked_message(user.locked_until, now))
    if not (attempt.password_ok and user.password_hash == attempt.verified_hash):
        _count_failure(user, actor, now, settings)
        return AuthError(_wrong_current(user.id, now, settings))
    if user.failed_logins:
        User.update(failed_logins=0).where(User.id == user.id).execute()
    return None


# A terminal's activity moves its session's `last_seen` at most this often: one UPDATE a
# minute, not one per keypress. Idle is judged on `last_seen`, so it can only err late.
SEEN_EVERY = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class SessionState:
    """An open session as `check_session` found it: who its user is now, and whether
    this call moved `last_seen`."""

    actor: Actor
    touched: bool


def check_session(token: str, settings: Settings, *, seen: bool = False) -> SessionState:
    """Whether `token`'s session may still act, in one SELECT of the session joined to
    its user; with `seen` (the user did something since the last report) `last_seen`
    moves too, at most once per SEEN_EVERY.

    Returns the user's actor as the database has it now (role and prosumer may have
    changed since the login). Raises SessionEnded with the reason, for the user: ended
    elsewhere (logout, password change, disabled, locked), or ended here and now
    because it was idle too long, is too old or its user was disabled.
    """
    return _checked(_session_and_user(token), settings, seen)


def check_session_id(
    session_id: uuid.UUID, settings: Settings, *, seen: bool = False
) -> SessionState:
    """`check_session` for a session named by its id (the HTTP API's signed login
    tokens carry the id, never the session token)."""
    return _checked(_session_by_id(session_id), settings, seen)


def _checked(session: Session | None, settings: Settings, seen: bool) -> SessionState:
    if session is None:
        raise SessionEnded(ended_message(None, settings))
    if session.ended_at is not None:
        raise SessionEnded(ended_message(session.end_reason, settings), session.end_reason)
    now = clock.now()
    reason = _end_reason(session, session.user, now, settings)
    if reason is not None:
        _end(session, reason)
        raise SessionEnded(ended_message(reason, settings), reason)
    touched = seen and now - session.last_seen >= SEEN_EVERY and _seen(session, now)
    return SessionState(actor_for_session(session.user, session), touched)


def _seen(session: Session, now: dt.datetime) -> bool:
    """Move `last_seen` to `now`, unless a call running alongside just did."""
    moved = (
        Session.update(last_seen=now)
        .where((Session.id == session.id) & (Session.last_seen <= now - SEEN_EVERY))
        .execute()
    )
    return moved > 0


def _session_and_user(token: str) -> Session | None:
    if not token or len(token) > 256:
        return None
    query = (
        Session.select(*_SESSION_COLUMNS, *_USER_COLUMNS)
        .join(User)
        .where(Session.token_hash == sessions.hash_token(token))
    )
    return query.first()


def _session_by_id(session_id: uuid.UUID) -> Session | None:
    query = Session.select(*_SESSION_COLUMNS, *_USER_COLUMNS).join(User)
    return query.where(Session.id == session_id).first()


# What the check needs and no more: it runs before every TUI call (and the poll's, every
# second), so fewer columns to build and read, and no password hash fetched for nothing.
_SESSION_COLUMNS = (
    Session.id,
    Session.user,
    Session.created_at,
    Session.last_seen,
    Session.ended_at,
    Session.end_reason,
    Session.ip_address,
)
_USER_COLUMNS = (User.id, User.username, User.role, User.prosumer_address, User.is_active)


def _wrong_current(user_id: int, now: dt.datetime, settings: Settings) -> str:
    """Say how many tries are left: a wrong current password counts like a failed login,
    and the user is logged in, so this tells them nothing they do not own."""
    counted = User.get_by_id(user_id)  # as _count_failure left it
    minutes = settings.login_lockout_minutes
    if counted.locked_until is not None and counted.locked_until > now:
        return f"{WRONG_CURRENT}: the account is now locked for {minutes} minutes"
    left = max(settings.login_max_failures - (counted.failed_logins or 0), 1)
    tries = "1 try" if left == 1 else f"{left} tries"
    return f"{WRONG_CURRENT}: {tries} left before the account locks for {minutes} minutes"


def resume(token: str, settings: Settings) -> Actor:
    """Check a session token (open, not idle too long, not too old, user still active),
    mark it seen, and return the actor; otherwise end it and raise SessionEnded."""
    actor = check_session(token, settings).actor
    session = sessions.find(token)
    assert session is not None  # just checked
    Session.update(last_seen=clock.now()).where(Session.id == session.id).execute()
    return actor


def touch(token: str, settings: Settings) -> None:
    """Keep a session alive; raises like `resume`."""
    resume(token, settings)


def _end_reason(session: Session, user: User, now: dt.datetime, settings: Settings) -> str | None:
    if not user.is_active:
        return "disabled"
    if now - session.created_at >= dt.timedelta(hours=settings.session_max_hours):
        return "expired"
    if now - session.last_seen >= dt.timedelta(minutes=settings.session_idle_minutes):
        return "idle"
    return None


def ended_message(reason: str | None, settings: Settings) -> str:
    """What a user is told when their session is over, by its `end_reason`."""
    if reason == "idle":
        minutes = settings.session_idle_minutes
        unit = "minute" if minutes == 1 else "minutes"
        return f"locked after {minutes} {unit} without activity: log in again"
    if reason == "expired":
        hours = settings.session_max_hours
        return f"sessions last at most {hours} hour{'' if hours == 1 else 's'}: log in again"
    return _ENDED.get(reason or "", "this session has ended: log in again")


_ENDED = {
    "disabled": "your account was disabled: ask an operator to enable it",
    "password_changed": (
        "your password was changed in another session or by an operator: log in again"
    ),
    "logout": "you logged out in another session: log in again",
    "locked": "this session was locked: log in again",
}


def logout(token: str) -> bool:
    """End the session of `token`; False if it was unknown or had already ended."""
    return end_session(token, "logout")


def end_session(token: str, reason: str) -> bool:
    """End the session of `token` for `reason` (the TUI's idle lock: `idle`; its manual
    lock: `locked`); False if it was unknown or had already ended."""
    session = _session_and_user(token)
    if session is None or session.ended_at is not None:
        return False
    return _end(session, reason)


def end_session_id(session_id: uuid.UUID, reason: str) -> bool:
    """`end_session` for a session named by its id."""
    session = _session_by_id(session_id)
    if session is None or session.ended_at is not None:
        return False
    return _end(session, reason)


def _end(session: Session, reason: str) -> bool:
    """End `session` (a joined `_session_and_user` row) and audit it, unless another
    process ended it first."""
    actor = actor_for_session(session.user, session)
    with db.atomic():
        ended = sessions.end(session, reason=reason)
        if ended and reason == "logout":
            audit.record("logout", actor, session_id=session.id)
        elif ended:
            audit.record("session_ended", actor, reason=reason, session_id=session.id)
    return ended


def list_sessions(user: User | str, limit: int = 50) -> list[SessionInfo]:
    """Newest first."""
    row = User.get_or_none(same_text(User.username, user)) if isinstance(user, str) else user
    if row is None:
        return []
    query = (
        Session.select().where(Session.user == row).order_by(Session.created_at.desc()).limit(limit)
    )
    return [SessionInfo.of(row) for row in query]
