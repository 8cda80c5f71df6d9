"""Helpers of the HTTP API tests: one app per test module (the models' proxy is rebound
per backend, and the app takes each request's connection from it), users and keys."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from energy_tui.config import default_settings
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.runtime import Runtime
from energy_tui.services import keys, users
from tests.market_support import OPERATOR, trader

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from fastapi.testclient import TestClient

SECRET = "s" * 40
PASSWORD = "a long enough password"


def make_app(**changes: Any):
    from energy_tui.api.app import create_app

    given = {"jwt_secret": SECRET, "bcrypt_rounds": 4, **changes}
    settings = dataclasses.replace(default_settings(), **given)
    runtime = Runtime(settings, parse_url("sqlite://:memory:"), db)
    return create_app(settings, runtime=runtime)


def client_for(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def user(name: str, role: str = "trader", *, watt: str = "0", energy: str = "0") -> None:
    """A prosumer `name` (with WATT and kWh) and a user `name` of `role` trading for it."""
    trader(name, watt=watt, energy=energy)
    users.add_user(
        OPERATOR, name, f"{name}@example.org", PASSWORD, rounds=4, role=role,
        prosumer_address=name,
    )  # fmt: skip


def key(name: str, permissions: str = "read,trade") -> dict[str, str]:
    """Headers with a new key of `name`'s."""
    return {"X-API-Key": keys.create_key(OPERATOR, name, "tests", permissions).key}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response, status: int, *fragments: str, field: str | None = None) -> dict:
    """The response is a problem document of `status` whose detail says `fragments`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body
