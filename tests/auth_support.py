"""Helpers shared by the identity tests: users, a settable clock, what-was-written checks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from energy_tui.config import Settings, load_settings
from energy_tui.db.models import MODELS, AuditLog, Prosumer, User
from energy_tui.services import prosumers, users
from energy_tui.services.context import Actor

OPERATOR = Actor(label="os:test-operator", role="admin")
PASSWORD = "correct horse battery"


def settings(**changes: Any) -> Settings:
    """The test settings (bcrypt cost 4 from the isolated environment), with changes."""
    return dataclasses.replace(load_settings(), **changes)


def add_user(
    name: str,
    role: str = "trader",
    *,
    password: str = PASSWORD,
    prosumer: bool = True,
) -> User:
    address = None
    if prosumer and role in ("trader", "operator", "admin"):
        address = f"{name}-home"
        if not Prosumer.select().where(Prosumer.address == address).exists():
            prosumers.add_prosumer(OPERATOR, address, f"{name}'s home")
    users.add_user(
        OPERATOR, name, f"{name}@example.org", password, rounds=4, role=role,
        prosumer_address=address,
    )  # fmt: skip
    return users.get(name)


def last_audit_id() -> int:
    return AuditLog.select(AuditLog.id).order_by(AuditLog.id.desc()).scalar() or 0


def audit_since(audit_id: int) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.id > audit_id).order_by(AuditLog.id))


def events_since(audit_id: int) -> list[tuple[str, str, str | None]]:
    """(event_type, outcome, reason) of each audit row after `audit_id`."""
    return [
        (row.event_type, row.outcome, json.loads(row.event_data).get("reason"))
        for row in audit_since(audit_id)
    ]


def snapshot() -> dict[str, list[str]]:
    """Every row of every table but the audit log, to prove nothing else was written."""
    rows: dict[str, list[str]] = {}
    for model in MODELS:
        if model is AuditLog:
            continue
        rows[model._meta.table_name] = sorted(repr(row) for row in model.select().tuples())
    return rows
