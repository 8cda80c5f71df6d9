"""The append-only audit log of security- and money-relevant actions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from peewee import JOIN

from energy_tui import clock
from energy_tui.db.models import AuditLog, User
from energy_tui.services.context import Actor


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.datetime | dt.date):
        return str(value)
    return str(value) if not isinstance(value, int | float | bool | type(None)) else value


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


def encode(data: dict[str, Any]) -> str:
    """The JSON text of `event_data`."""
    return json.dumps({key: _plain(value) for key, value in data.items()}, sort_keys=True)


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


def entries(
    *,
    since: dt.datetime | None = None,
    username: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first."""
    query = (
        AuditLog.select(AuditLog, User.username)
        .join(User, join_type=JOIN.LEFT_OUTER)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    if username is not None:
        query = query.where(User.username == username)
    if event_type is not None:
        query = query.where(AuditLog.event_type == event_type)
    return [
        AuditEntry(
            row.id,
            row.created_at,
            row.event_type,
            row.actor,
            row.user.username if row.user is not None else None,
            row.ip_address,
            row.outcome,
            json.loads(row.event_data or "{}"),
        )
        for row in query
    ]
