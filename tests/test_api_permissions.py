"""Key permission x role x endpoint, over HTTP: each endpoint refuses (403) exactly the
keys whose permissions or owner's role do not allow its action, on every backend."""

from __future__ import annotations

import uuid

import pytest

from energy_tui.services import keys, users
from energy_tui.services.permissions import Action
from tests.api_support import PASSWORD, client_for, make_app
from tests.market_support import OPERATOR, trader
from tests.test_permissions import HOLDABLE, MATRIX, ROLES, SCOPES

A = Action
V1 = "/api/v1"
# (method, path, body, the action it needs)
ENDPOINTS = [
    ("GET", "/market/book", None, A.READ_MARKET),
    ("GET", "/market/trades", None, A.READ_MARKET),
    ("GET", "/account/balances", None, A.READ_MARKET),
    ("POST", "/orders/preview", {"side": "buy", "amount": "1", "price": "0.25"}, A.READ_MARKET),
    ("GET", "/orders", None, A.READ_MARKET),
    ("POST", "/orders", {"side": "buy", "amount": "99999", "price": "0.25"}, A.TRADE_OWN),
    ("DELETE", f"/orders/{uuid.UUID(int=7)}", None, A.CANCEL_OWN),
    ("PATCH", f"/orders/{uuid.UUID(int=7)}", {"price": "0.25"}, A.TRADE_OWN),
    ("DELETE", "/orders?side=buy", None, A.CANCEL_OWN),
    ("GET", "/prosumers", None, A.MANAGE_PROSUMERS),
    ("POST", "/prosumers/nowhere/deposit", {"amount": "1"}, A.MANAGE_PROSUMERS),
    ("POST", "/prosumers/nowhere/meter-readings", {"generated": "1"}, A.MANAGE_PROSUMERS),
    ("GET", "/users", None, A.MANAGE_USERS),
    ("PUT", "/users/nobody1/role", {"role": "viewer"}, A.MANAGE_USERS),
    ("GET", "/audit", None, A.READ_AUDIT),
    ("GET", "/keys?user=nobody1", None, A.MANAGE_KEYS_OF_OTHERS),
    ("POST", "/account/meter-readings", {"generated": "1"}, A.RECORD_OWN_METER),
]


def allowed(role: str, permission: str, action: Action) -> bool:
    """The written-out matrix of tests/test_permissions.py, with the meter rule: own
    readings only through a `meter` key, or with the rights of a prosumer manager."""

    def has(a: Action) -> bool:
        return MATRIX[a].split()[ROLES.index(role)] == "Y" and a in SCOPES[permission]

    if action == A.RECORD_OWN_METER:
        return has(A.RECORD_OWN_METER) or has(A.MANAGE_PROSUMERS)
    return has(action)


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


def test_every_endpoint_refuses_exactly_what_the_key_and_role_do_not_allow(client, backend):
    users.add_user(OPERATOR, "nobody1", "n@example.org", PASSWORD, rounds=4, role="viewer")
    table = []
    for role in ROLES:
        name = f"{role}1"
        trader(name, watt="5")
        users.add_user(OPERATOR, name, f"{name}@example.org", PASSWORD, rounds=4, role=role,
                       prosumer_address=name)  # fmt: skip
        for permission in sorted(HOLDABLE[role]):
            secret = keys.create_key(OPERATOR, name, permission, permission).key
            for method, path, body, action in ENDPOINTS:
                response = client.request(
                    method, V1 + path, json=body, headers={"X-API-Key": secret}
                )
                assert response.status_code not in (401, 500), (role, permission, path)
                refused = response.status_code == 403
                table.append((role, permission, method, path, refused))
                assert refused is not allowed(role, permission, action), (
                    role, permission, method, path, response.text
                )  # fmt: skip
    assert len(table) == sum(len(HOLDABLE[r]) for r in ROLES) * len(ENDPOINTS)
