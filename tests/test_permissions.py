"""The role x action matrix and the key scopes, written out in full so a change shows."""

from __future__ import annotations

import itertools
import json

import pytest

from energy_tui.errors import PermissionDenied
from energy_tui.services.context import Actor
from energy_tui.services.permissions import (
    KEY_SCOPES,
    ROLE_ACTIONS,
    Action,
    allows,
    key_permissions_for,
    require,
)
from tests.auth_support import audit_since, last_audit_id

A = Action
ROLES = ("viewer", "trader", "operator", "admin")
# Y: allowed. One row per action, one column per role, in the order of ROLES.
MATRIX = {
    A.READ_MARKET:           "Y Y Y Y",
    A.TRADE_OWN:             ". Y Y Y",
    A.CANCEL_OWN:            ". Y Y Y",
    A.MANAGE_OWN_KEYS:       ". Y Y Y",
    A.MANAGE_KEYS_OF_OTHERS: ". . Y Y",
    A.MANAGE_PROSUMERS:      ". . Y Y",
    A.MANAGE_USERS:          ". . . Y",
    A.READ_AUDIT:            ". . Y Y",
    A.MIGRATE_DATABASE:      ". . . Y",
    A.MANAGE_MARKET_RULES:   ". . . Y",
    A.RECORD_OWN_METER:      ". Y Y Y",
}  # fmt: skip
SCOPES = {
    "read": {A.READ_MARKET},
    "trade": {A.TRADE_OWN, A.CANCEL_OWN},
    "manage": {
        A.MANAGE_OWN_KEYS,
        A.MANAGE_KEYS_OF_OTHERS,
        A.MANAGE_PROSUMERS,
        A.MANAGE_USERS,
        A.READ_AUDIT,
        A.MIGRATE_DATABASE,
        A.MANAGE_MARKET_RULES,
    },
    # a smart meter's key (issue 14): readings for its owner's prosumer, nothing else
    "meter": {A.RECORD_OWN_METER},
}
HOLDABLE = {
    "viewer": {"read"},
    "trader": {"read", "trade", "meter"},
    "operator": {"read", "trade", "manage", "meter"},
    "admin": {"read", "trade", "manage", "meter"},
}
KEY_SETS = [
    frozenset(combo)
    for size in range(1, 5)
    for combo in itertools.combinations(("read", "trade", "manage", "meter"), size)
]


def expected(role: str, action: Action) -> bool:
    return MATRIX[action].split()[ROLES.index(role)] == "Y"


def actor(role: str, permissions: frozenset[str] | None = None) -> Actor:
    return Actor(label=f"user:{role}1", role=role, username=f"{role}1", permissions=permissions)


def test_the_matrix_covers_every_action_and_role():
    assert set(MATRIX) == set(Action)
    assert set(ROLE_ACTIONS) == set(ROLES)
    assert set(KEY_SCOPES) == set(SCOPES)


@pytest.mark.parametrize(("role", "action"), itertools.product(ROLES, Action))
def test_role_allows_exactly_its_actions(role, action):
    assert allows(actor(role), action) is expected(role, action)


@pytest.mark.parametrize(("role", "scopes", "action"), itertools.product(ROLES, KEY_SETS, Action))
def test_key_allows_what_both_its_scopes_and_its_owners_role_allow(role, scopes, action):
    in_scope = any(action in SCOPES[scope] for scope in scopes)
    assert allows(actor(role, scopes), action) is (in_scope and expected(role, action))


@pytest.mark.parametrize("scope", SCOPES)
def test_key_scopes_grant_these_actions(scope):
    assert KEY_SCOPES[scope] == SCOPES[scope]


@pytest.mark.parametrize("role", ROLES)
def test_key_permissions_a_role_may_hold(role):
    assert key_permissions_for(role) == HOLDABLE[role]


@pytest.mark.parametrize("action", Action)
def test_a_key_with_no_permissions_allows_nothing(action):
    assert not allows(actor("admin", frozenset()), action)


@pytest.mark.parametrize("action", Action)
def test_an_unknown_role_allows_nothing(action):
    assert not allows(actor("superuser"), action)
    assert key_permissions_for("superuser") == set()


def test_the_local_operator_may_do_everything():
    assert all(allows(Actor.local_operator(), action) for action in Action)


@pytest.mark.parametrize(("role", "action"), itertools.product(ROLES, Action))
def test_require_raises_and_audits_exactly_the_denials(backend, role, action):
    start = last_audit_id()
    if expected(role, action):
        require(actor(role), action)
        assert audit_since(start) == []
        return
    with pytest.raises(PermissionDenied, match=f"{role}1 may not {action} as {role}"):
        require(actor(role), action, target="x")
    [row] = audit_since(start)
    assert (row.event_type, row.outcome, row.actor) == (
        "permission_denied",
        "denied",
        f"user:{role}1",
    )
    assert json.loads(row.event_data) == {"action": str(action), "target": "x"}


def test_denial_by_a_keys_scope_says_it_is_the_key(backend):
    with pytest.raises(PermissionDenied, match="with this API key"):
        require(actor("trader", frozenset({"read"})), A.TRADE_OWN)
