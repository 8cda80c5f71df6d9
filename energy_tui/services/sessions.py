"""Login sessions: one row per login; only a hash of the session token is stored."""

from __future__ import annotations

import hashlib
import secrets

from energy_tui import clock
from energy_tui.db.models import Session, User

TOKEN_BYTES = 32  # 256 bits from `secrets`


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(user: User, ip_address: str | None) -> tuple[Session, str]:
    """A new session row for `user`; returns it with the token, which is never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock.now()
    session = Session.create(
        user=user,
        token_hash=hash_token(token),
        created_at=now,
        last_seen=now,
        ip_address=(ip_address or None) and ip_address[:64],
    )
    return session, token


def find(token: str) -> Session | None:
    if not token or len(token) > 256:
        return None
    return Session.get_or_none(Session.token_hash == hash_token(token))


def end(session: Session, *, reason: str) -> bool:
    """End `session` for `reason`; False if it had already ended (another process
    ended it first: its reason stays)."""
    session.ended_at = clock.now()
    session.end_reason = reason
    ended = (
        Session.update(ended_at=session.ended_at, end_reason=reason)
        .where((Session.id == session.id) & Session.ended_at.is_null())
        .execute()
    )
    return ended > 0


def end_all(user: User, *, reason: str, keep: Session | None = None) -> int:
    """End every open session of `user` (but `keep`); return how many were ended."""
    query = Session.update(ended_at=clock.now(), end_reason=reason).where(
        (Session.user == user) & Session.ended_at.is_null()
    )
    if keep is not None:
        query = query.where(Session.id != keep.id)
    return query.execute()
