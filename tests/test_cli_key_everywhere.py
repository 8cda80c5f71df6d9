"""An API key means the same to every command: with one given (--api-key-file or the
environment) a command acts as the key's owner; only with none is it the local operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energy_tui.db.models import ApiKey, User
from energy_tui.services import keys, prosumers
from tests.auth_support import (
    OPERATOR,
    add_user,
    audit_since,
    events_since,
    last_audit_id,
    snapshot,
)
from tests.key_support import key_file

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def run(cli, backend, now):
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


@pytest.fixture
def ring(backend, now) -> dict[str, str]:
    """bob and alice trade; adm is an admin. Keys: bob's trade key, alice's read key,
    adm's read+manage key; bob-home holds 100 WATT."""
    for name, role in (("bob", "trader"), ("alice", "trader"), ("adm", "admin")):
        add_user(name, role)
    prosumers.deposit(OPERATOR, "bob-home", "100")
    return {
        "trader": keys.create_key(OPERATOR, "bob", "k", "read,trade").key,
        "alice": keys.create_key(OPERATOR, "alice", "k", "read").key,
        "manager": keys.create_key(OPERATOR, "adm", "k", "read,manage").key,
    }


# Every command that changes or reveals what only operators and admins may: (id, args,
# stdin). {alice} is alice's key prefix.
OPERATOR_COMMANDS = [
    ("user add", ["user", "add", "carl", "--email", "c@example.org", "--password-stdin"],
     NEW_PASSWORD + "\n"),
    ("user list", ["user", "list"], None),
    ("user set-role", ["user", "set-role", "bob", "admin"], None),
    ("user passwd (someone else)", ["user", "passwd", "alice", "--password-stdin"],
     NEW_PASSWORD + "\n"),
    ("user passwd (the key's owner)", ["user", "passwd", "bob", "--password-stdin"],
     NEW_PASSWORD + "\n"),
    ("user disable", ["user", "disable", "alice"], None),
    ("user enable", ["user", "enable", "alice"], None),
    ("prosumer add", ["prosumer", "add", "new-home", "--name", "New"], None),
    ("prosumer list", ["prosumer", "list"], None),
    ("prosumer show (someone else's)", ["prosumer", "show", "alice-home"], None),
    ("prosumer deposit", ["prosumer", "deposit", "bob-home", "1000"], None),
    ("prosumer withdraw", ["prosumer", "withdraw", "bob-home", "10"], None),
    ("prosumer meter", ["prosumer", "meter", "bob-home", "--generated", "50"], None),
    ("key create for someone else", ["key", "create", "--user", "alice", "--name", "x"], None),
    ("key list of someone else", ["key", "list", "--user", "alice"], None),
    ("key revoke of someone else", ["key", "revoke", "{alice}"], None),
    ("audit list", ["audit", "list"], None),
    ("db migrate", ["db", "migrate"], None),
    ("stats rebuild", ["stats", "rebuild"], None),
    ("market sweep", ["market", "sweep"], None),
]  # fmt: skip
CASES = [pytest.param(args, stdin, id=name) for name, args, stdin in OPERATOR_COMMANDS]


def _args(args: list[str], ring: dict[str, str]) -> list[str]:
    return [arg.format(alice=ring["alice"][:12]) for arg in args]


def _forget_use(key: str) -> None:
    """Verifying a key stamps its last use; that is the one write a denial may make."""
    ApiKey.update(last_used=None).where(ApiKey.prefix == key[:12]).execute()


@pytest.mark.parametrize(("args", "stdin"), CASES)
def test_a_traders_key_in_the_environment_is_refused_every_operator_command(
    run, ring, monkeypatch, args, stdin
):
    monkeypatch.setenv("ENERGY_TUI_API_KEY", ring["trader"])
    before, start = snapshot(), last_audit_id()
    result = run(*_args(args, ring), stdin=stdin)
    assert result.code == 3, result.out + result.err
    assert "permission denied: bob may not" in result.err
    assert result.out == ""
    assert [(event, outcome) for event, outcome, _ in events_since(start)] == [
        ("permission_denied", "denied")
    ]
    _forget_use(ring["trader"])
    assert snapshot() == before


@pytest.mark.parametrize(("args", "stdin"), CASES)
def test_an_admins_manage_key_may_run_every_operator_command(run, ring, args, stdin):
    start = last_audit_id()
    result = run(*_args(args, ring), *key_file(ring["manager"]), stdin=stdin)
    assert result.code == 0, result.err
    written = [event for event, outcome, _ in events_since(start) if outcome != "denied"]
    actors = {row.actor for row in audit_since(start)}
    assert actors <= {f"user:adm key:{ring['manager'][:12]}"}, actors
    assert "permission_denied" not in written


def test_the_role_change_a_trader_key_asked_for_is_not_made(run, ring, monkeypatch):
    monkeypatch.setenv("ENERGY_TUI_API_KEY", ring["trader"])
    assert run("user", "set-role", "bob", "admin").code == 3
    assert User.get(User.username == "bob").role == "trader"


def test_an_invalid_key_in_the_environment_stops_an_operator_command(run, ring, monkeypatch):
    monkeypatch.setenv("ENERGY_TUI_API_KEY", ring["trader"][:-1] + "#")
    before = snapshot()
    result = run("prosumer", "deposit", "bob-home", "5")
    assert (result.code, result.out) == (3, "")
    assert "malformed API key" in result.err
    assert snapshot() == before


@pytest.mark.parametrize("typed", ["bob-home", "BOB-Home"])
def test_a_key_owner_may_read_their_own_prosumer_in_any_case(run, ring, typed):
    # an address is one address whatever its case (as everywhere else): the owner's own
    # in capitals was refused as someone else's ("may not manage prosumers")
    result = run("prosumer", "show", typed, "--json", *key_file(ring["trader"]))
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert (shown["address"], shown["watt_total"]) == ("bob-home", "100.00")


def test_a_manage_key_acts_as_its_owner_in_the_audit_log(run, ring):
    start = last_audit_id()
    result = run("prosumer", "deposit", "bob-home", "5", *key_file(ring["manager"]))
    assert result.code == 0, result.err
    [row] = audit_since(start)
    assert (row.event_type, row.actor) == ("deposit", f"user:adm key:{ring['manager'][:12]}")


def test_without_a_key_commands_run_as_the_local_operator(run, ring, monkeypatch):
    monkeypatch.setenv("LOGNAME", "opsuser")
    who = json.loads(run("whoami", "--json").out)
    assert (who["actor"], who["local_operator"]) == ("os:opsuser", True)
    start = last_audit_id()
    assert run("user", "set-role", "bob", "operator").code == 0
    assert [row.actor for row in audit_since(start)] == ["os:opsuser"]


def test_whoami_with_a_key_says_it_is_not_the_local_operator(run, ring, monkeypatch):
    monkeypatch.setenv("ENERGY_TUI_API_KEY", ring["trader"])
    who = json.loads(run("whoami", "--json").out)
    assert (who["owner"], who["local_operator"]) == ("bob", False)


def test_no_command_module_makes_a_local_operator_itself():
    """The one helper (runtime.command_actor) decides; a command that built
    Actor.local_operator() would ignore a key given to it."""
    cli = Path(__file__).parent.parent / "energy_tui" / "cli"
    offenders = [
        path.name
        for path in sorted(cli.glob("*.py"))
        if path.name != "runtime.py" and "local_operator(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
