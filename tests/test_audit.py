"""The audit log's user filter: entries by the user and entries about them."""

from __future__ import annotations

from energy_tui.services import audit, keys, users
from energy_tui.services.context import Actor

ADMIN = Actor(label="test:admin", role="admin")


def test_user_filter_keeps_entries_by_or_about_the_user_on_every_backend(backend) -> None:
    for name in ("al_ce", "alxce", "bob"):  # `_` must not act as a LIKE wildcard
        users.add_user(ADMIN, name, f"{name}@example.org", "password-123", rounds=4)
    users.set_role(ADMIN, "al_ce", "operator")
    keys.create_key(ADMIN, "al_ce", "laptop", ("read",), None)
    audit.record("deposit", ADMIN, address="home-01", amount="1", note="al_ce")

    found = audit.entries(username="al_ce")

    assert sorted(e.event_type for e in found) == [
        "api_key_generated",  # owner=al_ce
        "user_created",  # target=al_ce
        "user_role_changed",
    ]
    assert all(e.username is None for e in found)  # none of them done by al_ce
    assert [e.event_type for e in audit.entries(username="alxce")] == ["user_created"]
