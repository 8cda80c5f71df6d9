"""API keys (DESIGN §4): `etk_<prefix>_<secret>`, shown once, stored as a SHA-256 hash.

The prefix (`etk_` + 8 hex characters) is not secret: it is stored in `api_keys.prefix`,
indexed, shown in listings and used to find the row; the 256-bit secret after it is
known only to whoever was shown the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from peewee import JOIN

from energy_tui import clock
from energy_tui.db.connect import backend_of
from energy_tui.db.identity import same_name
from energy_tui.db.locking import for_update
from energy_tui.db.models import ApiKey, User, db
from energy_tui.errors import AuthError, Conflict, NotFound, PermissionDenied, ValidationError
from energy_tui.redact import without_secrets
from energy_tui.services import audit, users, validation
from energy_tui.services.context import Actor, ssh_client_ip
from energy_tui.services.permissions import (
    KEY_PERMISSIONS,
    KEY_SCOPES,
    ROLE_ACTIONS,
    Action,
    allows,
    key_permissions_for,
    require,
)

SCHEME = "etk_"
SECRET_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
KEY_SHAPE = "etk_, 8 hex characters, '_' and 43 more characters"
_KEY = re.compile(r"(etk_[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
_PREFIX = re.compile(r"(?:etk_)?([0-9a-f]{8})")


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never its secret."""

    id: uuid.UUID
    prefix: str | None
    name: str
    owner: str | None
    permissions: tuple[str, ...]
    status: str  # active | revoked | expired
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used: dt.datetime | None
    revoked_at: dt.datetime | None
    made_by: str | None = None  # the prefix of the key that made it, where recorded

    @classmethod
    def of(
        cls, row: ApiKey, owner: str | None, now: dt.datetime, made_by: str | None = None
    ) -> KeyInfo:
        return cls(
            row.id,
            row.prefix,
            row.name,
            owner,
            tuple(sorted(row.permissions or ())),
            _status(row, now),
            row.created_at,
            row.expires_at,
            row.last_used,
            row.revoked_at,
            made_by,
        )


@dataclasses.dataclass(frozen=True)
class CreatedKey:
    """A new key. `key` exists only here: show it once, then let it go."""

    key: str
    info: KeyInfo


@dataclasses.dataclass(frozen=True)
class Revoked:
    """A key revoked, and the keys made with it (transitively) revoked with it."""

    key: KeyInfo
    made_with: tuple[KeyInfo, ...]  # revoked now, in the order they were made
    already: bool = False  # the key itself was revoked before; only its chain was now

    @property
    def message(self) -> str:
        shown = self.key.prefix or str(self.key.id)
        head = (
            f"API key {shown} was already revoked"
            if self.already
            else f"revoked API key {shown} {self.key.name!r} of {self.key.owner or 'nobody'}"
        )
        if not self.made_with:
            return head
        made = len(self.made_with)
        listed = ", ".join(
            f"{k.prefix or k.id} {k.name!r} of {k.owner or 'nobody'}" for k in self.made_with
        )
        joined = "; revoked now" if self.already else " and"
        return f"{head}{joined} {made} key{'s' if made > 1 else ''} made with it: {listed}"


def _status(row: ApiKey, now: dt.datetime) -> str:
    if row.revoked_at is not None or not row.is_active:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- input ---------------------------------------------------------------------------


def parse_permissions(raw: str | Iterable[str]) -> frozenset[str]:
    """`read,trade` or an iterable of names; at least one, each of read/trade/manage/meter."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    wanted = frozenset(item.strip().lower() for item in items if item.strip())
    unknown = sorted(wanted - set(KEY_PERMISSIONS))
    if unknown or not wanted:
        shown = ", ".join(repr(item[:20]) for item in unknown) or "none"
        raise ValidationError(
            f"unknown key permission {shown}: give one or more of {', '.join(KEY_PERMISSIONS)}"
            " (comma-separated)",
            field="permissions",
        )
    return wanted


def parse_expiry(raw: str | None, now: dt.datetime) -> dt.datetime | None:
    """ "90d", "12h", "2w", "2027-01-31" (00:00 UTC) or an ISO date-time; "never" or
    empty for none."""
    text = (raw or "").strip()
    if text.lower() in ("", "never", "none"):
        return None
    return validation.expiry(text, now, "expiry").replace(microsecond=0)


# --- create, list, revoke -----------------------------------------------------------


def create_key(
    actor: Actor,
    owner_username: str,
    name: str,
    permissions: str | Iterable[str] = ("read",),
    expires_at: dt.datetime | None = None,
) -> CreatedKey:
    """A new key for `owner_username`. Traders make keys only for themselves; a key never
    holds more than its owner's role, nor grants what the creator could not do."""
    name = validation.text_value(name, "name", max_length=100)
    wanted = parse_permissions(permissions)
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError("the expiry is in the past: give a future time", field="expires")
    _require_keys_of(actor, owner_username, target=owner_username[:50])
    owner = _active_owner(owner_username)
    _check_grant(actor, owner, wanted)
    _within_own_expiry(actor, expires_at)
    key, prefix = _new_key()
    with db.atomic():
        maker = _lock_maker(actor)
        row = ApiKey.create(
            user=owner,
            name=name,
            key_hash=hash_key(key),
            permissions=sorted(wanted),
            expires_at=expires_at,
            created_at=now,
            prefix=prefix,
            made_by=maker,
        )
        audit.record(
            "api_key_generated",
            actor,
            key_id=row.id,
            prefix=prefix,
            owner=owner.username,
            name=name,
            permissions=",".join(sorted(wanted)),
            expires_at=expires_at,
        )
    made_by = maker.prefix if maker is not None else None
    return CreatedKey(key, KeyInfo.of(row, owner.username, now, made_by))


def _lock_maker(actor: Actor) -> ApiKey | None:
    """The key the actor came in with, locked until the new key is committed: a revoke
    running alongside either waits and then finds the new key among those made with it,
    or commits first and the key may no longer make one."""
    if actor.api_key_id is None:
        return None
    maker = for_update(ApiKey.select().where(ApiKey.id == actor.api_key_id)).first()
    if maker is None or maker.revoked_at is not None or not maker.is_active:
        shown = f"API key {maker.prefix}" if maker is not None else "the API key in use"
        raise AuthError(f"{shown} was revoked: it makes no more keys")
    return maker


def _require_keys_of(actor: Actor, owner: str | None, **context: object) -> None:
    own = same_name(actor.username, owner)
    require(actor, Action.MANAGE_OWN_KEYS if own else Action.MANAGE_KEYS_OF_OTHERS, **context)


def _active_owner(username: str) -> User:
    owner = users.get(username)
    if not owner.is_active:
        raise ValidationError(
            f"user {owner.username!r} is disabled: enable them before giving them a key",
            field="user",
        )
    return owner


def _check_grant(actor: Actor, owner: User, wanted: frozenset[str]) -> None:
    if "meter" in wanted:
        # a meter key reports its prosumer's generation, which becomes energy to sell:
        # it is installed by whoever manages prosumers, never by the trader alone
        require(actor, Action.MANAGE_PROSUMERS, key="meter", target=owner.username)
        if not owner.prosumer_address:
            raise ValidationError(
                f"{owner.username} is not linked to a prosumer: a meter key posts readings "
                "for its owner's prosumer",
                field="permissions",
            )
    allowed = key_permissions_for(owner.role)
    beyond = sorted(wanted - allowed)
    if beyond:
        raise ValidationError(
            f"{owner.username} is a {owner.role}: their keys may hold only "
            f"{', '.join(sorted(allowed))}, not {', '.join(beyond)}",
            field="permissions",
        )
    role_actions = ROLE_ACTIONS.get(owner.role, frozenset())
    granted = {action for scope in wanted for action in KEY_SCOPES[scope] & role_actions}
    granted.discard(Action.RECORD_OWN_METER)  # checked above: a prosumer manager's to give
    missing = [action for action in Action if action in granted and not allows(actor, action)]
    if missing:
        audit.record(
            "permission_denied",
            actor,
            outcome="denied",
            action="create API key",
            target=owner.username,
            would_grant=", ".join(missing),
        )
        who = actor.username or actor.label
        raise PermissionDenied(
            f"permission denied: this key would let {owner.username} {' and '.join(missing)}, "
            f"which {who} may not do; a key never grants more than its creator holds"
        )


def _within_own_expiry(actor: Actor, expires_at: dt.datetime | None) -> None:
    """A key that expires makes only keys that expire by then: the new key is shown to
    whoever holds the old one, so a short-lived (or stolen) key would otherwise outlive
    itself through a never-expiring key it made, for its owner or anyone else."""
    if actor.api_key_id is None:
        return
    row = ApiKey.select(ApiKey.expires_at).where(ApiKey.id == actor.api_key_id).first()
    limit = row.expires_at if row is not None else None
    if limit is None or (expires_at is not None and expires_at <= limit):
        return
    given = "never expires" if expires_at is None else f"expires on {expires_at:%Y-%m-%d %H:%M}"
    raise ValidationError(
        f"this API key expires on {limit:%Y-%m-%d %H:%M} UTC and the new key {given}: a "
        f"key makes only keys that expire by the time it does (give an expiry up to "
        f"{limit:%Y-%m-%dT%H:%M})",
        field="expires",
    )


def _new_key() -> tuple[str, str]:
    while True:
        prefix = f"{SCHEME}{secrets.token_hex(4)}"
        if not ApiKey.select().where(ApiKey.prefix == prefix).exists():
            return f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def list_keys(actor: Actor, owner: str | None = None) -> list[KeyInfo]:
    """Everyone's keys for those who manage others' keys; otherwise the actor's own."""
    if owner is None and not allows(actor, Action.MANAGE_KEYS_OF_OTHERS):
        owner = actor.username
        if owner is None:
            require(actor, Action.MANAGE_KEYS_OF_OTHERS)
    maker = ApiKey.alias()
    query = (
        ApiKey.select(ApiKey, User, maker.prefix)
        .join(User, join_type=JOIN.LEFT_OUTER)
        .switch(ApiKey)
        .join(maker, JOIN.LEFT_OUTER, on=(ApiKey.made_by == maker.id), attr="maker")
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    if owner is not None:
        if not same_name(owner, actor.username):
            require(actor, Action.MANAGE_KEYS_OF_OTHERS, target=owner[:50])
        query = query.where(ApiKey.user == users.get(owner))
    now = clock.now()
    return [
        KeyInfo.of(
            row,
            row.user.username if row.user_id else None,
            now,
            row.maker.prefix if row.made_by_key_id is not None else None,
        )
        for row in query
    ]


def revoke(actor: Actor, id_or_prefix: str) -> Revoked:
    """Revoke a key and every key made with it, and with those, in one transaction.

    The keys made with it go whoever owns them: they exist only by the authority of the
    key that made them, which whoever held it could have used itself. Keys made by a
    login session or the local operator (and keys made before migration 0032, whose
    maker was not recorded) are not followed. A key already revoked is refused, unless
    keys made with it are still active: those are revoked now (a key made while its
    maker was being revoked elsewhere, or a maker revoked outside this code).
    """
    row = _find(id_or_prefix)
    owner = row.user.username if row.user_id else None
    shown = row.prefix or str(row.id)
    _require_keys_of(actor, owner, target=shown)
    now = clock.now()
    with db.atomic():
        # locked without its owner: PostgreSQL locks no row of an outer join's nullable side
        row = for_update(ApiKey.select().where(ApiKey.id == row.id)).get()
        already = row.revoked_at is not None or not row.is_active
        made_with = _made_with(row)
        if already and not made_with:
            when = f" on {row.revoked_at:%Y-%m-%d %H:%M} UTC" if row.revoked_at else ""
            raise Conflict(f"API key {shown} was already revoked{when}")
        if not already:
            _revoke_row(actor, row, owner, now)
        for child, maker in made_with:
            _revoke_row(actor, child, _owner(child), now, made_by=maker, chain_of=row.prefix)
    infos = tuple(KeyInfo.of(child, _owner(child), now, maker) for child, maker in made_with)
    return Revoked(KeyInfo.of(row, owner, now), infos, already)


def _owner(row: ApiKey) -> str | None:
    return row.user.username if row.user_id else None


def _made_with(root: ApiKey) -> list[tuple[ApiKey, str | None]]:
    """The keys made with `root`, and with those, still to revoke (each with its maker's
    prefix), in the order they were made; each level locked as read. A key is made after
    its maker, so there is no cycle; `seen` stops one all the same."""
    seen = {root.id}
    found: list[tuple[ApiKey, str | None]] = []
    level = [root]
    while level:
        makers = {key.id: key.prefix for key in level}
        children = for_update(
            ApiKey.select()
            .where(ApiKey.made_by.in_(list(makers)))
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        level = [child for child in children if child.id not in seen]
        seen.update(child.id for child in level)
        found.extend(
            (child, makers[child.made_by_key_id])
            for child in level
            if child.revoked_at is None and child.is_active
        )
    return found


def _revoke_row(
    actor: Actor,
    row: ApiKey,
    owner: str | None,
    now: dt.datetime,
    made_by: str | None = None,
    chain_of: str | None = None,
) -> None:
    """`chain_of`: the key whose revocation this one follows, through `made_by`."""
    ApiKey.update(is_active=False, revoked_at=now).where(ApiKey.id == row.id).execute()
    chain: dict[str, Any] = {"made_by": made_by, "chain_of": chain_of} if chain_of else {}
    audit.record("api_key_revoked", actor, key_id=row.id, prefix=row.prefix, owner=owner, **chain)
    row.is_active, row.revoked_at = False, now


def _find(id_or_prefix: str) -> ApiKey:
    text = (id_or_prefix or "").strip()
    query = ApiKey.select(ApiKey, User).join(User, join_type=JOIN.LEFT_OUTER)
    key = _KEY.fullmatch(text)
    prefix = _PREFIX.fullmatch(text.lower())
    if key is not None:
        row = query.where(ApiKey.prefix == key[1]).first()
    elif prefix is not None:
        row = query.where(ApiKey.prefix == SCHEME + prefix[1]).first()
    else:
        row = query.where(ApiKey.id == _as_uuid(text)).first()
    if row is None:
        shown = key[1] if key is not None else without_secrets(text)[:60]
        raise NotFound(f"no API key with id or prefix {shown!r}")
    return row


def _as_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        shown = without_secrets(text)[:60]  # a key pasted with quotes around it, say
        raise ValidationError(
            f"{shown!r} is neither a key prefix (like etk_ab12cd34) nor a key id (UUID);"
            " `energy-tui key list` shows both",
            field="key",
        ) from None


# --- use -----------------------------------------------------------------------------


# A key's use moves its `last_used` at most this often (as a session's `last_seen`): one
# UPDATE a minute per key, not a write transaction per request. The column reads "last
# used, to the minute".
USED_EVERY = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class _Found:
    """What `verify` reads of a key and its owner, in one SELECT."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    prefix: str
    key_hash: str | None
    permissions: list[str] | None
    is_active: bool
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used: dt.datetime | None
    username: str | None
    role: str | None
    user_active: bool | None
    prosumer_address: str | None


_FOUND_FIELDS = (
    ApiKey.id,
    ApiKey.user,
    ApiKey.prefix,
    ApiKey.key_hash,
    ApiKey.permissions,
    ApiKey.is_active,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used,
    User.username,
    User.role,
    User.is_active,
    User.prosumer,
)
_found_sql: dict[str, str] = {}


def _find_for_use(prefix: str) -> _Found | None:
    """The key with `prefix` and its owner: only the columns `verify` needs, in one
    statement whose text is built once per backend (peewee's query building costs about
    as much as the query itself)."""
    backend = backend_of(db)
    sql = _found_sql.get(backend)
    if sql is None:
        query = (
            ApiKey.select(*_FOUND_FIELDS)
            .join(User, join_type=JOIN.LEFT_OUTER)
            .where(ApiKey.prefix == "etk_00000000")
            .limit(1)
        )
        sql, params = query.sql()
        assert list(params) == ["etk_00000000", 1], params
        sql = _found_sql[backend] = sql
    row = db.execute_sql(sql, (prefix, 1)).fetchone()
    if row is None:
        return None
    values = [field.python_value(value) for field, value in zip(_FOUND_FIELDS, row, strict=True)]
    found = _Found(*values)
    return dataclasses.replace(
        found,
        is_active=bool(found.is_active),
        user_active=None if found.user_active is None else bool(found.user_active),
    )


def verify(key: str, ip: str | None = None) -> Actor:
    """The actor a key acts as, or AuthError saying why not (audited as api_key_denied).

    Checked now, at every call (a revoked key stops at its next use), in one SELECT of
    the key and its owner; `last_used` moves at most once per USED_EVERY.
    `ip` None means the SSH client address, if there is one.
    """
    ip = (ip or ssh_client_ip() or "")[:64] or None
    text = (key or "").strip()
    match = _KEY.fullmatch(text)
    if match is None:
        _deny(Actor(label="api-key", role="viewer", ip_address=ip), "malformed", length=len(text))
        raise AuthError(f"malformed API key: a key is {KEY_SHAPE}, as `key create` printed it")
    prefix = match[1]
    row = _find_for_use(prefix)
    if row is None:
        # the same work and words as a wrong secret: from outside, an unknown prefix and
        # a wrong secret look alike (the audit row keeps which it was)
        hmac.compare_digest(hash_key(text), _NO_KEY_HASH)
        _deny(Actor(label=f"key:{prefix}", role="viewer", ip_address=ip), "unknown", prefix=prefix)
        raise AuthError(_not_valid(prefix))
    now = clock.now()
    denied = _refusal(row, text, now)
    if denied is not None:
        reason, message = denied
        holder = Actor(
            f"key:{prefix}", "viewer", user_id=row.user_id, api_key_id=row.id, ip_address=ip
        )
        _deny(holder, reason, prefix=prefix)
        raise AuthError(message)
    if row.last_used is None or now - row.last_used >= USED_EVERY:
        _used(row.id, now)
    return _key_actor(row, ip)


def _used(key_id: uuid.UUID, now: dt.datetime) -> bool:
    """Move `last_used` to `now`, unless a call running alongside just did."""
    moved = (
        ApiKey.update(last_used=now)
        .where(
            (ApiKey.id == key_id)
            & (ApiKey.last_used.is_null() | (ApiKey.last_used <= now - USED_EVERY))
        )
        .execute()
    )
    return moved > 0


_NO_KEY_HASH = hash_key("etk_00000000_no key at all")


def _not_valid(prefix: str) -> str:
    return (
        f"API key {prefix} is not valid: give the whole key, as `key create` printed it "
        "(no key with this prefix and secret exists)"
    )


def _refusal(row: _Found, key: str, now: dt.datetime) -> tuple[str, str] | None:
    """Why a key that exists may not be used; its state is told only to whoever holds
    the whole key."""
    prefix = row.prefix
    if not hmac.compare_digest(hash_key(key), row.key_hash or ""):
        return "wrong_secret", _not_valid(prefix)
    if row.revoked_at is not None or not row.is_active:
        when = f" on {row.revoked_at:%Y-%m-%d %H:%M} UTC" if row.revoked_at else ""
        return "revoked", f"API key {prefix} was revoked{when}"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired", f"API key {prefix} expired on {row.expires_at:%Y-%m-%d %H:%M} UTC"
    if not row.user_id:
        return "no_owner", f"API key {prefix} belongs to no user"
    if not row.user_active:
        return "owner_inactive", (
            f"API key {prefix} belongs to {row.username}, whose account is disabled"
        )
    return None


def _key_actor(row: _Found, ip: str | None) -> Actor:
    name = row.username if row.user_id else None
    return Actor(
        label=f"user:{name} key:{row.prefix}" if name else f"key:{row.prefix}",
        role=(row.role or "viewer") if name is not None else "viewer",
        user_id=row.user_id,
        username=name,
        prosumer_address=row.prosumer_address if name is not None else None,
        api_key_id=row.id,
        permissions=frozenset(row.permissions or ()),
        ip_address=ip,
    )


def _deny(actor: Actor, reason: str, **data: object) -> None:
    audit.record("api_key_denied", actor, outcome="denied", reason=reason, **data)


def describe(actor: Actor) -> KeyInfo | None:
    """The key an actor came in with (for `whoami`), or None."""
    if actor.api_key_id is None:
        return None
    row = ApiKey.get_or_none(ApiKey.id == actor.api_key_id)
    return KeyInfo.of(row, actor.username, clock.now()) if row is not None else None
