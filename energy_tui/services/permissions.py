"""Roles x actions, in one place. Every service that writes asks `require`."""

from __future__ import annotations

import enum

from energy_tui.errors import PermissionDenied
from energy_tui.services import audit
from energy_tui.services.context import Actor


class Action(enum.StrEnum):
    READ_MARKET = "read market"
    TRADE_OWN = "trade for own prosumer"
    CANCEL_OWN = "cancel own order"
    MANAGE_OWN_KEYS = "manage own API keys"
    MANAGE_KEYS_OF_OTHERS = "manage API keys of others"
    MANAGE_PROSUMERS = "manage prosumers"
    MANAGE_USERS = "manage users and roles"
    READ_AUDIT = "read audit log"
    MIGRATE_DATABASE = "migrate the database schema"
    MANAGE_MARKET_RULES = "change the market rules"
    # A smart meter's key: readings for its owner's prosumer, nothing else. Only a key
    # holds it in practice (`prosumers.add_meter_reading`), and only an operator (who
    # manages prosumers) may issue one (`keys.create_key`): a trader reporting their
    # own generation would mint energy to sell.
    RECORD_OWN_METER = "post meter readings for own prosumer"


_A = Action
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "viewer": frozenset({_A.READ_MARKET}),
    "trader": frozenset(
        {_A.READ_MARKET, _A.TRADE_OWN, _A.CANCEL_OWN, _A.MANAGE_OWN_KEYS, _A.RECORD_OWN_METER}
    ),
    "operator": frozenset(
        {
            _A.READ_MARKET,
            _A.TRADE_OWN,
            _A.CANCEL_OWN,
            _A.MANAGE_OWN_KEYS,
            _A.MANAGE_KEYS_OF_OTHERS,
            _A.MANAGE_PROSUMERS,
            _A.READ_AUDIT,
            _A.RECORD_OWN_METER,
        }
    ),
    "admin": frozenset(Action),
}

# What each API key permission lets a key do (always within its owner's role).
KEY_SCOPES: dict[str, frozenset[Action]] = {
    "read": frozenset({_A.READ_MARKET}),
    "trade": frozenset({_A.TRADE_OWN, _A.CANCEL_OWN}),
    "manage": frozenset(
        {
            _A.MANAGE_OWN_KEYS,
            _A.MANAGE_KEYS_OF_OTHERS,
            _A.MANAGE_PROSUMERS,
            _A.MANAGE_USERS,
            _A.READ_AUDIT,
            _A.MIGRATE_DATABASE,
            _A.MANAGE_MARKET_RULES,
        }
    ),
    "meter": frozenset({_A.RECORD_OWN_METER}),
}

KEY_PERMISSIONS = tuple(KEY_SCOPES)


def key_permissions_for(role: str) -> frozenset[str]:
    """The key permissions a user of `role` may hold: those that give the role something
    beyond managing its own keys (so a viewer holds only `read`, a trader no `manage`)."""
    actions = ROLE_ACTIONS.get(role, frozenset())
    return frozenset(
        scope for scope, granted in KEY_SCOPES.items() if (granted - {_A.MANAGE_OWN_KEYS}) & actions
    )


def allows(actor: Actor, action: Action) -> bool:
    if action not in ROLE_ACTIONS.get(actor.role, frozenset()):
        return False
    if actor.permissions is None:
        return True
    return any(action in KEY_SCOPES.get(scope, frozenset()) for scope in actor.permissions)


def require(actor: Actor, action: Action, **context: object) -> None:
    """Raise PermissionDenied (and audit the denial) unless `actor` may do `action`.

    Call it before opening the write transaction, so the audit row of a denial stays.
    """
    if allows(actor, action):
        return
    audit.record("permission_denied", actor, outcome="denied", action=str(action), **context)
    via = (
        " with this API key"
        if actor.permissions is not None and action in ROLE_ACTIONS.get(actor.role, frozenset())
        else f" as {actor.role}"
    )
    raise PermissionDenied(
        f"permission denied: {actor.username or actor.label} may not {action}{via}"
    )
