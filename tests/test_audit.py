"""The audit log's user filter: entries by the user and entries about them."""

from __future__ import annotations

import json

from energy_tui.db.models import AuditLog, db
from energy_tui.services import audit, keys, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.market import invariants, server, sweep_expired
from tests.clock_support import freeze
from tests.market_support import place, trader

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


# --- the text of event_data ------------------------------------------------------------

NAME = "Café Müller 🌞"  # Latin letters, and a character beyond the Basic Multilingual Plane
HOME = "jürgen-home"  # an address the platform's other services wrote (ours are ASCII)


def raw_details(event_type: str) -> list[str]:
    rows = AuditLog.select(AuditLog.event_data).where(AuditLog.event_type == event_type)
    return [row.event_data for row in rows.order_by(AuditLog.id)]


def test_details_keep_non_ascii_letters_as_written_on_every_backend(backend) -> None:
    """event_data is UTF-8 JSON, as PostgreSQL's server functions and the platform's
    own services write it: `Müller`, not `M\\u00fcller`, so that the same action reads
    the same on every backend and an operator's SQL finds the name as typed."""
    prosumers.add_prosumer(ADMIN, "cafe-1", NAME)

    (text,) = raw_details("prosumer_created")
    assert text == '{"address": "cafe-1", "kind": "residential", "name": "Café Müller 🌞"}'
    assert json.loads(text)["name"] == NAME
    assert audit.entries(event_type="prosumer_created")[0].data["name"] == NAME


def test_a_lone_surrogate_in_details_is_escaped_not_refused(backend) -> None:
    """Text from a command line holding undecodable bytes (surrogateescape) cannot be
    stored as UTF-8: it stays a JSON escape, and the event is still recorded."""
    audit.record("permission_denied", ADMIN, outcome="denied", rule="x\udcff")

    (text,) = raw_details("permission_denied")
    assert text == '{"rule": "x\\udcff"}'
    assert json.loads(text)["rule"] == "x\udcff"


def test_trades_and_expiries_of_a_non_ascii_address_read_alike_by_python_and_server(
    backend, monkeypatch
) -> None:
    """The order_matched and order_expired details of a prosumer the platform inserted
    with a non-ASCII address: the same text from the Python path (every backend) and,
    on PostgreSQL, from the server functions (migration 0014)."""
    clock_now = freeze(monkeypatch)
    db.execute_sql(
        f"INSERT INTO prosumers (address, name) VALUES ({db.param}, {db.param})", (HOME, NAME)
    )
    prosumers.deposit(ADMIN, HOME, "10")
    prosumers.add_meter_reading(ADMIN, HOME, generated="10")
    home = Actor(label=f"user:{HOME}", role="trader", prosumer_address=HOME)
    bob = trader("bob", watt="10", energy="10")
    paths = [True, False] if backend.name == "postgres" else [False]  # the server function
    for on_server in paths:
        monkeypatch.setattr(server, "ENABLED", on_server)
        place(home, "sell", "1", "0.1000")
        place(bob, "buy", "1", "0.1000")
        place(home, "buy", "1", "0.1000", expires="30m")
        clock_now.advance(hours=1)
        assert sweep_expired() == 1

    matched, expired = raw_details("order_matched"), raw_details("order_expired")
    assert len(matched) == len(expired) == len(paths)
    for text in matched:
        trade_id = json.loads(text)["trade_id"]
        assert text == (
            '{"amount": "1.00", "buyer": "bob", "price": "0.1000", '
            f'"seller": "jürgen-home", "trade_id": "{trade_id}"}}'
        )
    for text in expired:
        order_id = json.loads(text)["order_id"]
        assert text == f'{{"order_id": "{order_id}", "trader": "jürgen-home"}}'
    assert [t for t in raw_details("deposit") if '"address": "jürgen-home"' in t]
    assert invariants.check() == []


def test_the_user_filter_finds_details_naming_a_non_ascii_user_in_either_form(backend) -> None:
    """A user the platform inserted as `jürgen`: entries about them written before
    (`j\\u00fcrgen`) and since (`jürgen`) are both found."""
    db.execute_sql(
        f"INSERT INTO users (username, email, password_hash) VALUES ({db.param}, "
        f"{db.param}, {db.param})",
        ("jürgen", "j@example.org", "$2b$12$x"),
    )
    audit.record("user_role_changed", ADMIN, target="jürgen", role="operator")
    AuditLog.create(
        created_at=AuditLog.get().created_at,
        event_type="user_disabled",
        actor=ADMIN.label,
        outcome="success",
        event_data=json.dumps({"target": "jürgen"}),  # as rows were written before
    )

    found = audit.entries(username="jürgen")

    assert sorted(e.event_type for e in found) == ["user_disabled", "user_role_changed"]
