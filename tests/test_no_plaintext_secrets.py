"""No password, API key or session token is ever stored or logged in plain text."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from energy_tui import locations, logs
from energy_tui.api.middleware import ACCESS_LOG
from energy_tui.db.models import MODELS
from energy_tui.errors import AuthError
from energy_tui.services import auth, keys
from tests.api_support import problem
from tests.auth_support import OPERATOR, settings
from tests.key_support import key_file

BOB_PASSWORD = "plain-Bob-pw-7Qx!"
BOB_NEW_PASSWORD = "plain-Bob-new-pw-9Zk"
OTTO_PASSWORD = "plain-Otto-pw-3Vm#"
TYPO = "plain-Bob-pw-7Qy!"
TOO_LONG = "plain-too-long-" + "ü" * 40
SHORT = "sh0rt!x"


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "opsuser")
    monkeypatch.setenv("SSH_CLIENT", "198.51.100.4 50000 22")


def ok(cli, backend, *args: str, stdin: str | None = None) -> str:
    result = cli("--db", backend.url, *args, stdin=stdin)
    assert result.code == 0, result.err
    return result.out


def refused(cli, backend, *args: str, stdin: str | None = None) -> None:
    assert cli("--db", backend.url, *args, stdin=stdin).code != 0


def use_everything(cli, backend) -> list[str]:
    """Create, change, use and misuse every kind of secret; return them all."""
    ok(cli, backend, "prosumer", "add", "house-1", "--name", "House 1")
    ok(cli, backend, "user", "add", "bob", "--email", "bob@example.org", "--prosumer", "house-1",
       "--password-stdin", stdin=BOB_PASSWORD + "\n")  # fmt: skip
    ok(cli, backend, "user", "add", "otto", "--email", "otto@example.org", "--role", "operator",
       "--password-stdin", stdin=OTTO_PASSWORD + "\n")  # fmt: skip
    refused(cli, backend, "user", "add", "eve", "--email", "eve@example.org", "--password-stdin",
            stdin=SHORT + "\n")  # fmt: skip

    made = [
        json.loads(ok(cli, backend, "key", "create", "--user", who, "--name", "k", "--perm", perm,
                      "--json"))["key"]
        for who, perm in (("bob", "read,trade"), ("otto", "read,manage"), ("bob", "read"))
    ]  # fmt: skip
    made.append(keys.create_key(OPERATOR, "bob", "svc", "read").key)
    wrong = made[0][:-3] + ("xyz" if not made[0].endswith("xyz") else "abc")
    ok(cli, backend, "whoami", *key_file(made[0]))
    ok(cli, backend, "key", "create", "--user", "bob", "--name", "k2", *key_file(made[1]))
    refused(cli, backend, "whoami", *key_file(wrong))
    refused(cli, backend, "key", "create", "--user", "otto", "--name", "x", *key_file(made[0]))
    ok(cli, backend, "key", "revoke", made[2][:12])
    refused(cli, backend, "whoami", *key_file(made[2]))
    refused(cli, backend, "whoami", "--api-key", made[0])  # a key on the command line
    ok(cli, backend, "whoami", "--api-key-file", "-", stdin=made[0] + "\n")

    tokens = []
    for name, password in (("bob", BOB_PASSWORD), ("otto", OTTO_PASSWORD)):
        tokens.append(auth.authenticate(name, password, None, settings()).token)
    for name, password in (("bob", TYPO), ("bob", TOO_LONG), ("nobody", BOB_PASSWORD)):
        with pytest.raises(AuthError):
            auth.authenticate(name, password, None, settings())
    auth.resume(tokens[0], settings())
    auth.logout(tokens[1])
    ok(cli, backend, "user", "passwd", "bob", "--password-stdin", stdin=BOB_NEW_PASSWORD + "\n")
    tokens.append(auth.authenticate("bob", BOB_NEW_PASSWORD, None, settings()).token)
    ok(cli, backend, "audit", "list")

    secrets_ = [BOB_PASSWORD, BOB_NEW_PASSWORD, OTTO_PASSWORD, TYPO, TOO_LONG, SHORT, *tokens]
    for key in [*made, wrong]:
        secrets_ += [key, key[13:]]  # the whole key and its secret part alone
    return secrets_


def stored_text(backend) -> list[tuple[str, str]]:
    """(table.column, text) of every value in every table."""
    found = []
    for model in MODELS:
        table = model._meta.table_name
        cursor = backend.database.execute_sql(f"SELECT * FROM {table}")
        columns = [column[0] for column in cursor.description]
        for row in cursor.fetchall():
            found += [
                (f"{table}.{col}", str(value)) for col, value in zip(columns, row, strict=True)
            ]
    return found


def test_no_secret_is_stored_or_logged_in_plain_text(cli, backend):
    needles = use_everything(cli, backend)
    stored = stored_text(backend)
    assert len(stored) > 200  # the scan saw the rows written above
    leaks = [(where, n) for where, text in stored for n in needles if n in text]
    assert leaks == []

    log = locations.log_file().read_text(encoding="utf-8")
    assert "PermissionDenied" in log  # refusals were logged: the log was really scanned
    assert [n for n in needles if n in log] == []

    if backend.name == "sqlite":
        path = Path(backend.url.removeprefix("sqlite://"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert [n for n in needles if n.encode() in raw] == []


# --- the HTTP API: a secret sent where it does not belong ---------------------------

V1 = "/api/v1"


@pytest.fixture
def api():
    """An app of this test's own, writing the access log of its log dir."""
    from tests.api_support import client_for, make_app

    return client_for(make_app())


@pytest.fixture
def app_log():
    """The app log file in the test's log dir, as the server sets it up; let go after."""
    logs.setup()
    yield locations.log_file()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_energy_tui", False)]:
        root.removeHandler(handler)
        handler.close()


def test_a_key_or_token_sent_to_the_api_is_never_repeated_logged_or_stored(api, backend, app_log):
    from tests.api_support import key, user

    user("root", role="admin")
    admin = key("root", "read,manage")
    user("bob")
    valid = key("bob")["X-API-Key"]
    unknown = "etk_deadbeef_" + "Q" * 43
    token = api.post(
        f"{V1}/auth/login", json={"username": "bob", "password": "a long enough password"}
    ).json()["access_token"]
    answers = [
        # an unknown key to revoke, as a user would paste it: its prefix is named
        problem(api.delete(f"{V1}/keys/{unknown}", headers=admin), 404, "'etk_deadbeef'"),
        # pasted with its quotes, or into a path that is no endpoint, or as a method
        problem(api.delete(f"{V1}/keys/'{unknown}'", headers=admin), 422, "etk_deadbeef_..."),
        problem(api.get(f"{V1}/keys/{unknown}/x", headers=admin), 404, "etk_deadbeef_..."),
        problem(api.request(unknown, f"{V1}/keys", headers=admin), 405, "this method is not"),
        # a key or a login token as a query parameter's name or value
        problem(api.get(f"{V1}/keys?{unknown}=1", headers=admin), 422, "etk_deadbeef_..."),
        problem(api.get(f"{V1}/keys?token={token}", headers=admin), 422, "'token'"),
        problem(api.get(f"{V1}/keys?{token}=1", headers=admin), 422, "unknown query"),
    ]
    # a trader pasting a key where a user or an owner belongs: refused, and the refusal
    # is audited with what was asked (permission_denied rows name their target)
    trader = key("bob", "read,trade")
    for denied in (
        api.put(f"{V1}/users/{unknown}/role", json={"role": "admin"}, headers=trader),
        api.post(f"{V1}/users/{unknown}/disable", headers=trader),
        api.get(f"{V1}/keys", params={"user": unknown}, headers=trader),
    ):
        assert denied.status_code == 403, denied.text
        answers.append(denied.json())
    # a valid key, given whole, is revoked (as `energy-tui key revoke FULLKEY` does)
    revoked = api.delete(f"{V1}/keys/{valid}", headers=admin)
    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked"), revoked.text
    assert revoked.json()["prefix"] == valid[:12]
    assert api.get(f"{V1}/account/balances", headers={"X-API-Key": valid}).status_code == 401
    logging.getLogger("energy_tui.api").error("unexpected error on %s", f"/keys/{unknown}")

    needles = [unknown, unknown[13:], valid, valid[13:], token, token.rsplit(".", 1)[1]]
    for answer in [*answers, revoked.json()]:
        assert [n for n in needles if n in json.dumps(answer)] == []
    access = (locations.log_dir() / ACCESS_LOG).read_text(encoding="utf-8")
    assert access.count("\n") >= len(answers) + 3  # every request was logged
    assert [n for n in needles if n in access] == []
    text = app_log.read_text(encoding="utf-8")
    assert "etk_deadbeef_..." in text  # the line was written, the key cut to its prefix
    assert [n for n in needles if n in text] == []
    stored = stored_text(backend)
    assert [(where, n) for where, value in stored for n in needles if n in value] == []
