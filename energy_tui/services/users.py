"""User accounts: create, list, roles, enable/disable, passwords."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from peewee import IntegrityError

from energy_tui import clock
from energy_tui.db.identity import same_name, same_text
from energy_tui.db.locking import for_update
from energy_tui.db.models import Prosumer, Session, User, db
from energy_tui.errors import Conflict, NotFound
from energy_tui.services import audit, passwords, sessions, validation
from energy_tui.services.context import Actor
from energy_tui.services.permissions import Action, require
from energy_tui.terms import ROLES


@dataclasses.dataclass(frozen=True)
class UserInfo:
    username: str
    email: str
    role: str
    is_active: bool
    prosumer_address: str | None
    created_at: dt.datetime
    last_login: dt.datetime | None
    locked_until: dt.datetime | None

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(
            user.username,
            user.email,
            user.role,
            bool(user.is_active),
            user.prosumer_address,
            user.created_at,
            user.last_login,
            user.locked_until,
        )


def get(username: str) -> User:
    """The user named `username`, in any case."""
    user = User.get_or_none(same_text(User.username, username))
    if user is None:
        raise NotFound(f"no user named {username[:50]!r}", field="username")
    return user


def count() -> int:
    return User.select().count()


def add_user(
    actor: Actor,
    username: str,
    email: str,
    password: str,
    *,
    rounds: int,
    role: str = "trader",
    prosumer_address: str | None = None,
) -> UserInfo:
    username = validation.username(username)
    email = validation.email(email)
    role = validation.choice(role, "role", ROLES)
    password_hash = passwords.hash_password(password, rounds)  # outside the transaction
    require(actor, Action.MANAGE_USERS, target=username)
    with db.atomic():
        if prosumer_address is not None:
            prosumer_address = _stored_address(validation.address(prosumer_address))
        _check_unique(username, email)
        try:
            user = User.create(
                username=username,
                email=email,
                password_hash=password_hash,
                role=role,
                prosumer=prosumer_address,
                created_at=clock.now(),
            )
        except IntegrityError:
            raise Conflict(f"username {username!r} or email {email!r} is already taken") from None
        audit.record("user_created", actor, target=username, role=role, prosumer=prosumer_address)
    return UserInfo.of(user)


def _stored_address(address: str) -> str:
    """The prosumer's address as stored, for an address typed in any case (the user row
    must reference it exactly: PostgreSQL's foreign key compares with case)."""
    row = Prosumer.get_or_none(same_text(Prosumer.address, address))
    if row is None:
        raise NotFound(
            f"no prosumer with address {address!r}: add it first with `energy-tui prosumer add`",
            field="prosumer",
        )
    return str(row.address)


def _check_unique(username: str, email: str) -> None:
    """Names differing only by case are one name (DESIGN: one account per person)."""
    taken = User.select(User.username).where(same_text(User.username, username)).first()
    if taken is not None:
        raise Conflict(f"username {username!r} is already taken{_as(taken.username, username)}")
    used = User.select(User.email).where(same_text(User.email, email)).first()
    if used is not None:
        raise Conflict(f"email {email!r} is already used by another user{_as(used.email, email)}")


def _as(stored: str, typed: str) -> str:
    return f" (as {stored!r}: case does not make a name different)" if stored != typed else ""


def list_users() -> list[UserInfo]:
    return [UserInfo.of(user) for user in User.select().order_by(User.username)]


def set_role(actor: Actor, username: str, role: str) -> UserInfo:
    role = validation.choice(role, "role", ROLES)
    require(actor, Action.MANAGE_USERS, target=username)
    with db.atomic():
        user = for_update(User.select().where(same_text(User.username, username))).first()
        if user is None:
            raise NotFound(f"no user named {username[:50]!r}")
        old = user.role
        user.role = role
        user.save()
        audit.record("user_role_changed", actor, target=username, old_role=old, new_role=role)
    return UserInfo.of(user)


def set_active(actor: Actor, username: str, active: bool) -> UserInfo:
    require(actor, Action.MANAGE_USERS, target=username)
    with db.atomic():
        user = get(username)
        user.is_active = active
        if active:
            user.failed_logins = 0
            user.locked_until = None
        user.save()
        audit.record("user_enabled" if active else "user_disabled", actor, target=username)
        if not active:
            sessions.end_all(user, reason="disabled")
    return UserInfo.of(user)


def set_password(
    actor: Actor,
    username: str,
    password: str,
    *,
    rounds: int,
    keep_session: uuid.UUID | None = None,
) -> UserInfo:
    """Set a new password (admin reset, or a user's own change) and end the user's
    sessions but `keep_session` (the one a user changes their own password in)."""
    password_hash = passwords.hash_password(password, rounds)
    if not same_name(actor.username, username) or actor.api_key_id is not None:
        # an API key is not its owner's password: it resets one only as a user manager
        require(actor, Action.MANAGE_USERS, target=username)
    with db.atomic():
        user = get(username)
        user.password_hash = password_hash
        user.failed_logins = 0
        user.locked_until = None
        user.save()
        audit.record("password_changed", actor, target=username)
        keep = None
        if keep_session is not None:
            keep = Session.get_or_none((Session.id == keep_session) & (Session.user == user))
        sessions.end_all(user, reason="password_changed", keep=keep)
    return UserInfo.of(user)


def create_first_admin(username: str, email: str, password: str, *, rounds: int) -> UserInfo:
    """The first-run path: create an admin only while there are no users at all."""
    actor = Actor(label="first-run", role="admin")
    username = validation.username(username)
    email = validation.email(email)
    password_hash = passwords.hash_password(password, rounds)
    with db.atomic():
        if User.select().exists():
            raise Conflict("an account already exists: log in instead")
        user = User.create(
            username=username,
            email=email,
            password_hash=password_hash,
            role="admin",
            created_at=clock.now(),
        )
        audit.record("user_created", actor, target=username, role="admin", first_run=True)
    return UserInfo.of(user)
