"""`energy-tui key ...`, `whoami` and `audit list` through the real entry point."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from energy_tui.db.models import ApiKey
from energy_tui.services import auth, keys, users
from tests.auth_support import OPERATOR, add_user, events_since, last_audit_id, snapshot
from tests.clock_support import START
from tests.key_support import key_file

OS_USER = "opsuser"
KEY_LINE = re.compile(r"^    (etk_[0-9a-f]{8}_[A-Za-z0-9_-]{43})$", re.M)


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", OS_USER)


@pytest.fixture
def run(cli, backend, now):
    """The CLI against the test backend: run("key", "list")."""
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


@pytest.fixture
def people(backend, now) -> None:
    for name, role in (("bob", "trader"), ("alice", "trader"), ("otto", "operator")):
        add_user(name, role)


def ok(run, *args: str) -> str:
    result = run(*args)
    assert result.code == 0, result.err
    assert result.err == ""
    return result.out


def create_json(run, *args: str) -> dict[str, object]:
    return json.loads(ok(run, "key", "create", *args, "--json"))


# --- the operator's round trip --------------------------------------------------------


def test_operator_creates_lists_uses_and_revokes_a_key(run, people):
    out = ok(run, "key", "create", "--user", "bob", "--name", "laptop", "--perm", "read,trade")
    [key] = KEY_LINE.findall(out)
    prefix = key[:12]
    assert f"API key {prefix} 'laptop' for bob: permissions read, trade; expires never" in out
    assert "only time the key is shown" in out

    listing = ok(run, "key", "list")
    assert prefix in listing and "laptop" in listing and "active" in listing
    assert key[13:] not in listing

    who = ok(run, "whoami", *key_file(key))
    assert re.search(r"owner\s+bob", who) and re.search(r"role\s+trader", who)
    assert re.search(r"permissions\s+read,trade", who) and re.search(r"expires\s+never", who)

    assert ok(run, "key", "revoke", prefix) == f"revoked API key {prefix} 'laptop' of bob\n"
    refused = run("whoami", *key_file(key))
    assert refused.code == 3
    assert f"API key {prefix} was revoked on 2026-03-02 12:00 UTC" in refused.err
    assert "revoked" in ok(run, "key", "list", "--user", "bob")


def test_create_json_has_the_key_once_with_its_fields(run, people):
    data = create_json(
        run, "--user", "bob", "--name", "bot", "--perm", "trade,read", "--expires", "90d"
    )
    assert list(data)[:5] == ["id", "key", "prefix", "permissions", "expires_at"]
    assert data["key"].startswith(data["prefix"] + "_")
    assert data["permissions"] == ["read", "trade"]
    assert data["expires_at"] == "2026-05-31 12:00:00"
    row = ApiKey.get_by_id(data["id"])
    assert (row.prefix, row.key_hash) == (data["prefix"], keys.hash_key(data["key"]))


def test_create_with_a_date_expiry(run, people):
    data = create_json(run, "--user", "bob", "--name", "x", "--expires", "2027-01-31")
    assert data["expires_at"] == "2027-01-31 00:00:00"


def test_list_json_never_has_a_secret(run, people):
    data = create_json(run, "--user", "bob", "--name", "x")
    [listed] = json.loads(ok(run, "key", "list", "--json"))
    assert listed["prefix"] == data["prefix"] and listed["owner"] == "bob"
    assert "key" not in listed and data["key"][13:] not in json.dumps(listed)


def test_whoami_reads_the_key_from_the_environment(run, people, monkeypatch):
    data = create_json(run, "--user", "bob", "--name", "x", "--expires", "2027-01-31")
    monkeypatch.setenv("ENERGY_TUI_API_KEY", data["key"])
    who = json.loads(ok(run, "whoami", "--json"))
    assert (who["owner"], who["role"], who["permissions"]) == ("bob", "trader", ["read"])
    assert (who["prefix"], who["expires_at"]) == (data["prefix"], "2027-01-31 00:00:00")
    assert ApiKey.get_by_id(data["id"]).last_used == START


def test_whoami_without_a_key_is_the_local_operator(run, people):
    assert ok(run, "whoami").startswith(f"os:{OS_USER}: local operator, with full rights")


def test_operator_key_creates_keys_for_others(run, people):
    manager = create_json(run, "--user", "otto", "--name", "ops", "--perm", "read,trade,manage")
    start = last_audit_id()
    made = create_json(run, "--user", "bob", "--name", "x", *key_file(manager["key"]))
    assert made["permissions"] == ["read"]
    assert events_since(start) == [("api_key_generated", "success", None)]


def test_key_commands_are_audited_as_the_os_user(run, people):
    start = last_audit_id()
    data = create_json(run, "--user", "bob", "--name", "x")
    ok(run, "key", "revoke", data["prefix"])
    rows = json.loads(ok(run, "audit", "list", "--json", "--limit", "2"))
    assert [r["event_type"] for r in rows] == ["api_key_revoked", "api_key_generated"]
    assert {r["actor"] for r in rows} == {f"os:{OS_USER}"}
    assert last_audit_id() == start + 2


# --- bad input -----------------------------------------------------------------------


@pytest.fixture
def keyring(run, people, now) -> dict[str, str]:
    """Keys in every state; the clock then moves on so that `expired` has expired."""

    def make(owner: str, perms: str = "read,trade", **kwargs: Any) -> str:
        return keys.create_key(OPERATOR, owner, "k", perms, **kwargs).key

    ring = {
        "bob": make("bob"),
        "bob_read": make("bob", "read"),
        "otto": make("otto", "read,manage"),
        "revoked": make("bob"),
        "expired": make("bob", expires_at=START + dt.timedelta(hours=1)),
        "disabled": make("alice"),
    }
    keys.revoke(OPERATOR, ring["revoked"])
    users.set_active(OPERATOR, "alice", False)
    ring["wrong"] = ring["bob"][:-1] + ("A" if ring["bob"][-1] != "A" else "B")
    ring["unknown"] = "etk_00000000" + ring["bob"][12:]
    now.advance(hours=2)
    return ring


DENIED = ("api_key_denied", "denied")
PERMISSION = [("permission_denied", "denied", None)]
KEY = "--api-key-file"  # the value after it is written to a key file (see key_args)
BAD_INPUT = [
    # id, arguments ({name} is a key of `keyring`), exit code, message, audit rows
    ("malformed key", ["whoami", KEY, "etk_123"], 3, "malformed API key",
     [(*DENIED, "malformed")]),
    ("empty key file", ["whoami", KEY, ""], 2, "is empty", []),
    ("4000-char key", ["whoami", KEY, "k" * 4000], 3, "malformed API key",
     [(*DENIED, "malformed")]),
    ("unknown prefix", ["whoami", KEY, "{unknown}"], 3, "API key etk_00000000 is not valid",
     [(*DENIED, "unknown")]),
    ("wrong secret", ["whoami", KEY, "{wrong}"], 3, "is not valid: give the whole key",
     [(*DENIED, "wrong_secret")]),
    ("revoked key", ["whoami", KEY, "{revoked}"], 3, "was revoked on",
     [(*DENIED, "revoked")]),
    ("expired key", ["whoami", KEY, "{expired}"], 3,
     "expired on 2026-03-02 13:00 UTC", [(*DENIED, "expired")]),
    ("owner disabled", ["whoami", KEY, "{disabled}"], 3,
     "belongs to alice, whose account is disabled", [(*DENIED, "owner_inactive")]),
    ("trader key creating a key for someone else",
     ["key", "create", "--user", "alice", "--name", "x", KEY, "{bob}"], 3,
     "bob may not manage API keys of others as trader", PERMISSION),
    ("trader key creating a key for themselves",
     ["key", "create", "--user", "bob", "--name", "x", KEY, "{bob}"], 3,
     "bob may not manage own API keys with this API key", PERMISSION),
    ("trader key revoking someone else's key",
     ["key", "revoke", "{otto}", KEY, "{bob}"], 3,
     "bob may not manage API keys of others", PERMISSION),
    ("trader key reading the audit log", ["audit", "list", KEY, "{bob}"], 3,
     "bob may not read audit log as trader", PERMISSION),
    ("read key listing others' keys", ["key", "list", "--user", "otto", KEY,
     "{bob_read}"], 3, "bob may not manage API keys of others", PERMISSION),
    ("manage key minting a trade key", ["key", "create", "--user", "bob", "--name", "x",
     "--perm", "trade", KEY, "{otto}"], 3, "which otto may not do", PERMISSION),
    ("expiry in the past", ["key", "create", "--user", "bob", "--name", "x", "--expires",
     "2020-01-01"], 2, "expiry '2020-01-01' is not in the future", []),
    ("expiry of zero", ["key", "create", "--user", "bob", "--name", "x", "--expires", "0h"],
     2, "not in the future", []),
    ("expiry unparseable", ["key", "create", "--user", "bob", "--name", "x", "--expires",
     "next week"], 2, "expiry 'next week' is not understood", []),
    ("unknown permission", ["key", "create", "--user", "bob", "--name", "x", "--perm",
     "read,admin"], 2, "unknown key permission 'admin'", []),
    ("permission beyond the role", ["key", "create", "--user", "bob", "--name", "x",
     "--perm", "manage"], 2, "bob is a trader: their keys may hold only meter, read, trade", []),
    ("unknown owner", ["key", "create", "--user", "nobody", "--name", "x"], 2,
     "no user named 'nobody'", []),
    ("disabled owner", ["key", "create", "--user", "alice", "--name", "x"], 2,
     "'alice' is disabled", []),
    ("empty name", ["key", "create", "--user", "bob", "--name", " "], 2,
     "name must not be empty", []),
    ("missing name", ["key", "create", "--user", "bob"], 2, "--name", []),
    ("revoke garbage", ["key", "revoke", "nonsense"], 2, "neither a key prefix", []),
    ("revoke unknown prefix", ["key", "revoke", "etk_00000000"], 2,
     "no API key with id or prefix 'etk_00000000'", []),
    ("revoke twice", ["key", "revoke", "{revoked}"], 2, "already revoked", []),
    ("audit limit zero", ["audit", "list", "--limit", "0"], 2,
     "--limit '0' is not valid", []),
    ("audit since unparseable", ["audit", "list", "--since", "last tuesday"], 2,
     "--since 'last tuesday' is not understood", []),
]  # fmt: skip


def key_args(args: list[str]) -> list[str]:
    """`args` with the value after each KEY moved into a key file."""
    out: list[str] = []
    for arg in args:
        if out[-1:] == [KEY]:
            out[-1:] = key_file(arg)
        else:
            out.append(arg)
    return out


@pytest.mark.parametrize(
    ("args", "code", "message", "events"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
def test_bad_input_is_refused_clearly_audited_and_changes_nothing(
    run, keyring, now, args, code, message, events
):
    before, start = snapshot(), last_audit_id()
    result = run(*key_args([arg.format(**keyring) for arg in args]))
    assert result.code == code
    assert message in result.err
    assert result.out == ""
    assert events_since(start) == events
    if events == PERMISSION:  # a valid key was used, then denied: that use is recorded
        used = ApiKey.get(ApiKey.prefix == args[-1].format(**keyring)[:12])
        assert used.last_used == now()
        ApiKey.update(last_used=None).where(ApiKey.id == used.id).execute()
    assert snapshot() == before


def test_no_secret_appears_in_error_output(run, keyring):
    result = run("whoami", *key_file(keyring["wrong"]))
    assert keyring["wrong"][13:] not in result.err
    assert keyring["bob"][13:] not in result.err


# --- audit list ----------------------------------------------------------------------


def test_audit_list_filters_by_event_user_and_time(run, keyring, now):
    run("whoami", *key_file(keyring["wrong"]))
    rows = json.loads(ok(run, "audit", "list", "--event", "api_key_denied", "--json"))
    assert [(r["event_type"], r["data"]["reason"]) for r in rows] == [
        ("api_key_denied", "wrong_secret")
    ]
    assert rows[0]["username"] == "bob"
    bobs = json.loads(ok(run, "audit", "list", "--user", "bob", "--json"))
    by_bob = {r["event_type"] for r in bobs if r["username"] == "bob"}
    about_bob = {r["event_type"] for r in bobs if r["username"] != "bob"}
    assert by_bob == {"api_key_denied"}
    assert about_bob == {"user_created", "api_key_generated", "api_key_revoked"}
    others = [r for r in bobs if r["username"] != "bob"]
    assert all("bob" in (r["data"].get("target"), r["data"].get("owner")) for r in others)
    assert json.loads(ok(run, "audit", "list", "--since", "1m", "--json")) == rows
    assert len(json.loads(ok(run, "audit", "list", "--since", "2026-03-02", "--json"))) > 5
    assert len(json.loads(ok(run, "audit", "list", "--limit", "3", "--json"))) == 3


def test_audit_list_prints_a_table(run, keyring):
    out = ok(run, "audit", "list", "--event", "api_key_revoked")
    header, line = out.splitlines()
    assert header.split()[:4] == ["CREATED", "AT", "EVENT", "TYPE"]
    assert "api_key_revoked" in line and "os:test-operator" in line
    assert keyring["revoked"][:12] in line


def test_audit_list_with_no_match_says_none(run, people):
    assert ok(run, "audit", "list", "--event", "nothing_like_this").endswith("(none)\n")


def test_audit_list_shows_the_hash_of_an_unknown_name_and_finds_it_by_that_name(run, people):
    from energy_tui.errors import AuthError
    from energy_tui.services import audit, auth
    from tests.auth_support import settings

    for name in ("mallory", "mallory", "trudy"):
        with pytest.raises(AuthError):
            auth.authenticate(name, "hunter2hunter2", None, settings())
    table = ok(run, "audit", "list", "--event", "login_failed")
    assert f'username_hmac="{audit.keyed_hash("mallory")}"' in table
    assert "mallory" not in table and "trudy" not in table
    found = json.loads(ok(run, "audit", "list", "--user", "mallory", "--json"))
    assert [row["data"]["username_hmac"] for row in found] == [audit.keyed_hash("mallory")] * 2


# --- revocation follows the keys a key made ----------------------------------------------


def test_key_revoke_revokes_the_keys_made_with_it_and_says_so(run, people):
    root = create_json(run, "--user", "otto", "--name", "root", "--perm", "read,trade,manage")
    child = create_json(
        run, "--user", "otto", "--name", "child", "--perm", "read,trade,manage",
        *key_file(root["key"]),
    )  # fmt: skip
    grand = create_json(run, "--user", "bob", "--name", "grand", *key_file(child["key"]))
    otto = auth.actor_for_session(users.get("otto"))
    sibling = keys.create_key(otto, "bob", "sibling", "read")
    listing = ok(run, "key", "list", "--json")
    made_by = {k["name"]: k["made_by"] for k in json.loads(listing)}
    assert made_by == {"root": None, "child": root["prefix"], "grand": child["prefix"],
                       "sibling": None}  # fmt: skip

    start = last_audit_id()
    out = ok(run, "key", "revoke", root["prefix"])
    assert out == (
        f"revoked API key {root['prefix']} 'root' of otto and 2 keys made with it: "
        f"{child['prefix']} 'child' of otto, {grand['prefix']} 'grand' of bob\n"
    )
    assert events_since(start) == [("api_key_revoked", "success", None)] * 3
    for made in (child, grand):
        refused = run("whoami", *key_file(made["key"]))
        assert refused.code == 3, refused.err
        assert f"API key {made['prefix']} was revoked" in refused.err
    assert "owner" in ok(run, "whoami", *key_file(sibling.key))
    statuses = {k["name"]: k["status"] for k in json.loads(ok(run, "key", "list", "--json"))}
    assert statuses == {"root": "revoked", "child": "revoked", "grand": "revoked",
                        "sibling": "active"}  # fmt: skip
