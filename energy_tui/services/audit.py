"""The append-only audit log of security- and money-relevant actions."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from decimal import Decimal
from typing import Any

from peewee import JOIN, IntegrityError

from energy_tui import clock
from energy_tui.db.identity import same_text
from energy_tui.db.locking import for_update
from energy_tui.db.models import AuditLog, AuditSecret, User, db
from energy_tui.errors import ValidationError
from energy_tui.redact import without_secrets
from energy_tui.services import validation
from energy_tui.services.context import Actor
from energy_tui.terms import SINCE_FORMS


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):  # a JSON array, never Python's repr of a list
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Decimal | dt.datetime | dt.date):
        return str(value)
    return str(value) if not isinstance(value, int | float | bool | type(None)) else value


# Details older rows hold as the text of a Python list ("['3f2b...', ...]", a cancel-all's
# order ids before they were stored as JSON arrays): read back as the list they were.
_LISTS_AS_TEXT = ("order_ids",)


def decode(text: str | None) -> dict[str, Any]:
    """`event_data` as a dict, old rows' list texts read as lists."""
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        return {"value": data}
    for key in _LISTS_AS_TEXT:
        value = data.get(key)
        if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
            data[key] = _old_list(value)
    return data


def _old_list(text: str) -> Any:
    """The list a row stored as `str(list)`; the text as it is if it is not one."""
    try:
        items = ast.literal_eval(text)  # literals only: never runs code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if not isinstance(items, list):
        return text
    return [item if isinstance(item, int | str) else str(item) for item in items]


def record(event_type: str, actor: Actor, outcome: str = "success", **data: Any) -> AuditLog:
    """Append one audit row. Never pass a secret in `data`."""
    return AuditLog.create(
        created_at=clock.now(),
        event_type=event_type,
        user=actor.user_id,
        api_key=actor.api_key_id,
        ip_address=actor.ip_address,
        actor=actor.label[:100],
        outcome=outcome,
        event_data=encode(data),
    )


KEYED_HASH_LENGTH = 16  # hex characters kept: enough to group attempts, short to show


def keyed_hash(text: str) -> str:
    """HMAC-SHA256 of `text` under this database's audit secret, cut to 16 hex
    characters: the same text gives the same hash (repeated attempts on one name can be
    grouped) while what was typed, perhaps a password, cannot be read back."""
    digest = hmac.new(_secret(), text.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:KEYED_HASH_LENGTH]


def _typed_name_hash(username: str) -> str | None:
    """The keyed hash failed logins for a non-existent `username` were recorded with;
    None while no hash was ever made (no audit secret yet)."""
    if not AuditSecret.select().where(AuditSecret.id == 1).exists():
        return None
    return keyed_hash(username.strip()[:50])


def _secret() -> bytes:
    """The audit secret, generated on first need; two processes racing to make it both
    end up with the row that was stored first."""
    row = AuditSecret.get_or_none(AuditSecret.id == 1)
    if row is None:
        try:
            with db.atomic():  # a savepoint when the caller is in a transaction
                row = AuditSecret.create(id=1, secret=secrets.token_hex(32))
        except IntegrityError:  # a locking read sees the other's row under any isolation
            row = for_update(AuditSecret.select().where(AuditSecret.id == 1)).get()
    return bytes.fromhex(row.secret)


# A lone surrogate (undecodable bytes of a command line, kept by surrogateescape) is no
# character UTF-8 can store: it stays a JSON escape.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(data: dict[str, Any]) -> str:
    """The JSON text of `event_data`: UTF-8, non-ASCII letters as they are (`"Müller"`,
    not `"M\\u00fcller"`), as PostgreSQL's `to_json` writes it in the server functions
    (migration 0014) and as the platform's other services write their JSON: the same
    action reads the same on every backend, and an operator's SQL finds a name as typed.
    Rows written before kept the escapes; both are the same JSON.

    What a user typed may be a pasted API key or login token (a refusal names its
    target: `prosumer show KEY`, `PUT /users/KEY/role`): it is stored cut to the key's
    public prefix (`redact.without_secrets`), as answers and logs show it."""
    text = json.dumps(
        {key: _plain(value) for key, value in data.items()}, sort_keys=True, ensure_ascii=False
    )
    return without_secrets(_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: dt.datetime
    event_type: str
    actor: str
    username: str | None
    ip_address: str | None
    outcome: str
    data: dict[str, Any]


# event_data keys naming the user an action was done to (user_created, user_disabled,
# password_changed, permission_denied: target; api_key_generated/revoked: owner)
AFFECTED_KEYS = ("target", "owner")


def _by_or_about(username: str, hashed: str | None) -> Any:
    """Entries the user acted in, that name them as the one acted upon, or failed logins
    typed as this name while no such user existed (found by the name's keyed hash)."""
    condition = same_text(User.username, username)
    for key in AFFECTED_KEYS:
        # the exact `"key": "value"` text that `encode` writes (sorted keys, ", ", ": "),
        # and as rows before it wrote non-ASCII letters (escaped)
        for text in dict.fromkeys((encode({key: username}), json.dumps({key: username}))):
            condition |= AuditLog.event_data.contains(text[1:-1])
    if hashed is not None:
        condition |= AuditLog.event_data.contains(encode({"username_hmac": hashed})[1:-1])
    return condition


def _names(entry: AuditEntry, username: str, hashed: str | None) -> bool:
    """The exact check behind the LIKE above (names without regard to case, as accounts
    are; LIKE's own case rules differ between backends)."""
    name = username.strip().lower()
    return (
        (entry.username or "").lower() == name
        or any(str(entry.data.get(k, "")).lower() == name for k in AFFECTED_KEYS)
        or (hashed is not None and entry.data.get("username_hmac") == hashed)
    )


def entries(
    *,
    since: dt.datetime | None = None,
    username: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Newest first. `username` keeps the entries by that user and those about them;
    `before_id` only entries older than that one (a page after the last seen)."""
    query = (
        AuditLog.select(AuditLog, User.username)
        .join(User, join_type=JOIN.LEFT_OUTER)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    hashed = _typed_name_hash(username) if username is not None else None
    if username is not None:
        query = query.where(_by_or_about(username, hashed))
    if event_type is not None:
        query = query.where(AuditLog.event_type == event_type)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    found = [
        AuditEntry(
            row.id,
            row.created_at,
            row.event_type,
            row.actor,
            row.user.username if row.user is not None else None,
            row.ip_address,
            row.outcome,
            decode(row.event_data),
        )
        for row in query
    ]
    return found if username is None else [e for e in found if _names(e, username, hashed)]


# The event types the services record, for filters (the log itself accepts any).
EVENT_TYPES = (
    "user_login",
    "login_failed",
    "account_locked",
    "logout",
    "session_ended",
    "user_created",
    "user_role_changed",
    "user_enabled",
    "user_disabled",
    "password_changed",
    "api_key_generated",
    "api_key_revoked",
    "api_key_denied",
    "permission_denied",
    "prosumer_created",
    "deposit",
    "withdrawal",
    "meter_reading",
    "order_created",
    "order_cancelled",
    "order_matched",
    "order_expired",
    "price_alert_added",
    "price_alert_removed",
)


def parse_since(raw: str | None, now: dt.datetime, label: str = "since") -> dt.datetime | None:
    """A filter's lower bound in UTC: a date, a date-time, or a span back from `now`."""
    typed = (raw or "").strip()  # echoed as typed
    text = typed.lower()
    if not text:
        return None
    field = label.lstrip("-")  # the API's query parameter, the CLI's option without --
    try:
        return validation.moment_back(text, now)
    except OverflowError:  # `999999w` ago, or an offset taking the moment out of the calendar
        raise ValidationError(
            f"{label} {typed[:40]!r} is out of range: {validation.CALENDAR}", field=field
        ) from None
    except ValueError:
        raise ValidationError(
            f"{label} {typed[:40]!r} is not understood: "
            f"{validation.digits_hint(typed)}give {SINCE_FORMS}",
            field=field,
        ) from None


def parse_limit(raw: str, label: str = "limit", most: int = 10_000) -> int:
    return validation.whole_number(raw, label, minimum=1, maximum=most)
