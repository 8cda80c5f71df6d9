"""Login sessions: one row per login; only a hash of the session token is stored."""

from __future__ import annotations

from energy_tui import clock
from energy_tui.db.models import Session, User


def end_all(user: User, *, reason: str, keep: Session | None = None) -> int:
    """End every open session of `user` (but `keep`); return how many were ended."""
    query = Session.update(ended_at=clock.now(), end_reason=reason).where(
        (Session.user == user) & Session.ended_at.is_null()
    )
    if keep is not None:
        query = query.where(Session.id != keep.id)
    return query.execute()
