"""`energy-tui user ...` through the real entry point, on every backend."""

from __future__ import annotations

import getpass
import io
import json
import sys

import bcrypt
import pytest

from energy_tui.db.models import MODELS, AuditLog, User

OS_USER = "opsuser"
SSH_IP = "198.51.100.23"
PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", OS_USER)  # what getpass.getuser() reads first


@pytest.fixture
def run(cli, backend):
    """The CLI against the test backend: run("user", "list")."""
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


def ok(run, *args: str, stdin: str | None = None) -> str:
    result = run(*args, stdin=stdin)
    assert result.code == 0, result.err
    assert result.err == ""
    return result.out


def add_alice(run, *extra: str) -> str:
    return ok(
        run, "user", "add", "alice", "--email", "alice@example.org", "--password-stdin", *extra,
        stdin=PASSWORD + "\n",
    )  # fmt: skip


def snapshot() -> dict[str, object]:
    """Everything a failed command must leave as it was."""
    return {
        "counts": {model._meta.table_name: model.select().count() for model in MODELS},
        "users": list(
            User.select(
                User.username,
                User.email,
                User.password_hash,
                User.role,
                User.is_active,
                User.prosumer,
                User.failed_logins,
            )
            .order_by(User.username)
            .tuples()
        ),
    }


def events() -> list[AuditLog]:
    return list(AuditLog.select().order_by(AuditLog.id))


def test_add_creates_a_trader_by_default_with_a_bcrypt_hash_at_the_configured_cost(run):
    assert add_alice(run) == "created trader 'alice' <alice@example.org>\n"
    user = User.get(User.username == "alice")
    assert (user.email, user.role, user.is_active, user.prosumer_address) == (
        "alice@example.org",
        "trader",
        True,
        None,
    )
    assert user.password_hash.startswith("$2b$04$")  # BCRYPT_ROUNDS=4 from the environment
    assert bcrypt.checkpw(PASSWORD.encode(), user.password_hash.encode())
    assert PASSWORD not in user.password_hash


def test_add_with_role_prosumer_and_json_prints_the_new_user(run):
    assert ok(run, "prosumer", "add", "house-1", "--name", "House")
    out = ok(
        run, "user", "add", "Olga.Ops", "--email", "Olga@Example.ORG", "--role", "operator",
        "--prosumer", "house-1", "--password-stdin", "--json", stdin=PASSWORD + "\n",
    )  # fmt: skip
    info = json.loads(out)
    assert info["username"] == "Olga.Ops"
    assert info["email"] == "olga@example.org"
    assert (info["role"], info["is_active"], info["prosumer_address"]) == (
        "operator",
        True,
        "house-1",
    )
    assert info["last_login"] is None
    assert "password" not in out and "$2b$" not in out


def test_password_of_exactly_72_utf8_bytes_is_accepted_and_verifies(run):
    password = "é" * 36  # 36 characters, 72 bytes
    ok(
        run, "user", "add", "bob", "--email", "bob@example.org", "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    stored = User.get(User.username == "bob").password_hash
    assert bcrypt.checkpw(password.encode(), stored.encode())


def test_add_asks_for_the_password_twice_on_a_terminal(run, monkeypatch):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", _Terminal())
    ok(run, "user", "add", "alice", "--email", "alice@example.org")
    stored = User.get(User.username == "alice").password_hash
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


def test_add_refuses_two_different_passwords_typed_on_a_terminal(run, monkeypatch):
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", _Terminal())
    before = snapshot()
    result = run("user", "add", "alice", "--email", "alice@example.org")
    assert result.code == 2
    assert result.err == "energy-tui: the two passwords differ; nothing was changed\n"
    assert snapshot() == before


def test_add_without_terminal_or_password_stdin_exits_2_and_explains(run):
    before = snapshot()
    result = run("user", "add", "alice", "--email", "alice@example.org", stdin="")
    assert result.code == 2
    assert "--password-stdin" in result.err
    assert snapshot() == before


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_list_shows_users_sorted_as_table_and_json(run):
    add_alice(run)
    ok(
        run, "user", "add", "aaron", "--email", "aaron@example.org", "--role", "viewer",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    rows = json.loads(ok(run, "user", "list", "--json"))
    assert [(r["username"], r["role"], r["is_active"]) for r in rows] == [
        ("aaron", "viewer", True),
        ("alice", "trader", True),
    ]
    assert all("password_hash" not in r for r in rows)
    table = ok(run, "user", "list").splitlines()
    assert table[0].split() == [
        "USERNAME", "EMAIL", "ROLE", "IS", "ACTIVE", "PROSUMER", "ADDRESS", "LAST", "LOGIN",
    ]  # fmt: skip
    assert table[1].split()[:4] == ["aaron", "aaron@example.org", "viewer", "yes"]
    assert table[2].split()[:4] == ["alice", "alice@example.org", "trader", "yes"]
    assert table[1].index("viewer") == table[2].index("trader")  # aligned columns


def test_list_of_no_users_says_none(run):
    assert "(none)" in ok(run, "user", "list")
    assert json.loads(ok(run, "user", "list", "--json")) == []


@pytest.mark.parametrize("role", ["trader", "operator", "admin", "viewer"])
def test_set_role_changes_the_role(run, role):
    add_alice(run, "--role", "viewer" if role != "viewer" else "admin")
    assert ok(run, "user", "set-role", "alice", role) == f"alice is now {role}\n"
    assert User.get(User.username == "alice").role == role


def test_disable_then_enable(run):
    add_alice(run)
    User.update(failed_logins=4).where(User.username == "alice").execute()
    assert ok(run, "user", "disable", "alice") == "alice is disabled\n"
    assert User.get(User.username == "alice").is_active is False
    rows = json.loads(ok(run, "user", "list", "--json"))
    assert rows[0]["is_active"] is False
    assert ok(run, "user", "enable", "alice") == "alice is enabled\n"
    user = User.get(User.username == "alice")
    assert (user.is_active, user.failed_logins, user.locked_until) == (True, 0, None)


def test_passwd_from_stdin_replaces_the_hash(run):
    add_alice(run)
    old = User.get(User.username == "alice").password_hash
    out = ok(run, "user", "passwd", "alice", "--password-stdin", stdin="new secret 2\n")
    assert out.startswith("password of alice changed")
    new = User.get(User.username == "alice").password_hash
    assert new != old
    assert bcrypt.checkpw(b"new secret 2", new.encode())
    assert not bcrypt.checkpw(PASSWORD.encode(), new.encode())


def test_passwd_keeps_spaces_inside_and_around_the_password(run):
    add_alice(run)
    ok(run, "user", "passwd", "alice", "--password-stdin", stdin="  spaced out  \r\n")
    stored = User.get(User.username == "alice").password_hash
    assert bcrypt.checkpw(b"  spaced out  ", stored.encode())


def test_each_write_is_audited_with_os_user_ssh_address_and_no_secret(run, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", f"{SSH_IP} 50022 22")
    add_alice(run)
    ok(run, "user", "set-role", "alice", "operator")
    ok(run, "user", "disable", "alice")
    ok(run, "user", "enable", "alice")
    ok(run, "user", "passwd", "alice", "--password-stdin", stdin="another secret\n")
    rows = events()
    assert [row.event_type for row in rows] == [
        "user_created",
        "user_role_changed",
        "user_disabled",
        "user_enabled",
        "password_changed",
    ]
    for row in rows:
        assert (row.actor, row.ip_address, row.outcome) == (f"os:{OS_USER}", SSH_IP, "success")
        assert json.loads(row.event_data)["target"] == "alice"
        assert "secret" not in row.event_data and "horse" not in row.event_data
        assert "$2b$" not in row.event_data
    assert json.loads(rows[1].event_data) == {
        "new_role": "operator",
        "old_role": "trader",
        "target": "alice",
    }


def test_audit_ip_address_is_empty_outside_ssh(run):
    add_alice(run)
    (row,) = events()
    assert row.ip_address is None
    assert row.actor == f"os:{OS_USER}"


LONG = "x" * 10_000
ROLES = "expected one of trader, operator, admin, viewer"
SHORT = "password must be at least 8 characters"


def add(name: str = "carol", email: str = "carol@example.org", *extra: str) -> list[str]:
    return ["add", name, "--email", email, "--password-stdin", *extra]


# (command after "user", stdin, what is wrong, what is accepted)
BAD_INPUTS = [
    (add(""), PASSWORD, "username must not be empty", "1-50 characters"),
    (add("   "), PASSWORD, "username must not be empty", "1-50 characters"),
    (add(LONG), PASSWORD, "username is 10000 characters long", "at most 50"),
    (add("ab"), PASSWORD, "username must be 3-50 characters", "letters, digits"),
    (add("carol smith"), PASSWORD, "username must be 3-50 characters", "letters, digits"),
    (add("alice"), PASSWORD, "username 'alice' is already taken", "username"),
    (add("carol", ""), PASSWORD, "email must not be empty", "1-100 characters"),
    (add("carol", LONG), PASSWORD, "email is 10000 characters long", "at most 100"),
    (add("carol", "carol.example.org"), PASSWORD, "is not an address", "name@example.org"),
    (add("carol", "alice@example.org"), PASSWORD, "already used by another user", "email"),
    (add("carol", "ALICE@Example.org"), PASSWORD, "already used by another user", "email"),
    (add("carol", "c@example.org", "--role", "god"), PASSWORD, "unknown role 'god'", ROLES),
    (add("carol", "c@example.org", "--role", ""), PASSWORD, "unknown role ''", ROLES),
    (add("carol", "c@x.org", "--prosumer", "ghost"), PASSWORD, "no prosumer", "prosumer add"),
    (add(), "", SHORT, "at least 8"),
    (add(), "seven77", SHORT, "at least 8"),
    (add(), "é" * 7, SHORT, "at least 8"),
    (add(), "a" * 73, "password is 73 bytes in UTF-8", "at most 72 bytes"),
    (add(), "é" * 37, "password is 74 bytes in UTF-8", "at most 72 bytes"),
    (add(), "🔋" * 19, "password is 76 bytes in UTF-8", "at most 72 bytes"),
    (add(), "a" * 71 + "é", "password is 73 bytes in UTF-8", "at most 72 bytes"),
    (["set-role", "alice", "god"], None, "unknown role 'god'", ROLES),
    (["set-role", "alice", "Root"], None, "unknown role 'Root'", ROLES),
    (["set-role", "ghost", "admin"], None, "no user named 'ghost'", "ghost"),
    (["disable", "ghost"], None, "no user named 'ghost'", "ghost"),
    (["enable", "ghost"], None, "no user named 'ghost'", "ghost"),
    (["passwd", "alice", "--password-stdin"], "short", SHORT, "at least 8"),
    (["passwd", "alice", "--password-stdin"], "ü" * 40, "80 bytes in UTF-8", "at most 72"),
    (["passwd", "ghost", "--password-stdin"], PASSWORD, "no user named 'ghost'", "ghost"),
]


@pytest.mark.parametrize(
    ("args", "stdin", "wrong", "accepted"),
    BAD_INPUTS,
    ids=[f"{' '.join(a)[:30]}|{(s or '')[:12]}" for a, s, _, _ in BAD_INPUTS],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(run, args, stdin, wrong, accepted):
    User.create(username="alice", email="alice@example.org", password_hash=HASH)
    before = snapshot()
    result = run("user", *args, stdin=None if stdin is None else stdin + "\n")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("energy-tui: ")
    assert result.err.endswith("\n")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert len(result.err) < 300
    assert wrong in result.err
    assert accepted in result.err
    if stdin:
        assert stdin not in result.err  # a password is never echoed
    assert snapshot() == before


def test_role_names_are_not_case_sensitive(run):
    add_alice(run)
    assert ok(run, "user", "set-role", "alice", "Operator") == "alice is now operator\n"
    assert User.get(User.username == "alice").role == "operator"


def test_longest_accepted_username_and_email_are_stored(run):
    username = "u" * 50
    email = "e" * 88 + "@example.org"
    assert len(email) == 100
    ok(
        run, "user", "add", username, "--email", email, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    rows = json.loads(ok(run, "user", "list", "--json"))
    assert [(r["username"], r["email"]) for r in rows] == [(username, email)]


# --- one account whatever the case (issue 11) -------------------------------------------


@pytest.mark.parametrize("other", ["Alice", "ALICE", "aLiCe"])
def test_username_differing_only_by_case_is_refused_as_taken_on_every_backend(run, other):
    add_alice(run)
    before = snapshot()
    result = run(
        "user", "add", other, "--email", "other@example.org", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.code == 2
    assert result.err == (
        f"energy-tui: username {other!r} is already taken "
        "(as 'alice': case does not make a name different)\n"
    )
    assert snapshot() == before


def test_database_itself_refuses_a_username_differing_only_by_case(backend):
    """The unique index, not only the service's check (a second writer racing it)."""
    import peewee

    User.create(username="alice", email="alice@example.org", password_hash=HASH)
    with pytest.raises(peewee.IntegrityError), backend.database.atomic():
        User.create(username="ALICE", email="other@example.org", password_hash=HASH)
    with pytest.raises(peewee.IntegrityError), backend.database.atomic():
        User.create(username="bob", email="Alice@Example.org", password_hash=HASH)
    assert User.select().count() == 1


def test_a_user_is_found_by_any_case_and_shown_as_stored(run):
    ok(
        run, "user", "add", "Alice", "--email", "alice@example.org", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert ok(run, "user", "set-role", "ALICE", "operator") == "Alice is now operator\n"
    assert ok(run, "user", "disable", "alice") == "Alice is disabled\n"
    rows = json.loads(ok(run, "user", "list", "--json"))
    assert [(r["username"], r["role"], r["is_active"]) for r in rows] == [
        ("Alice", "operator", False)
    ]


def test_prosumer_typed_in_another_case_links_the_user_to_the_stored_address(run):
    ok(run, "prosumer", "add", "House-1", "--name", "House")
    ok(
        run, "user", "add", "alice", "--email", "alice@example.org", "--prosumer", "HOUSE-1",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert User.get(User.username == "alice").prosumer_address == "House-1"


def test_lookup_by_any_case_uses_the_name_index(backend):
    """`same_text` is written so that the unique index serves it: lower(col) = lower(?)
    matches the expression index of migration 0007; MySQL's plain index ignores case."""
    from energy_tui.db.identity import same_text

    User.create(username="alice", email="alice@example.org", password_hash=HASH)
    query = User.select(User.id).where(same_text(User.username, "ALICE"))
    sql, params = query.sql()
    if backend.name == "postgres":
        backend.database.execute_sql("SET enable_seqscan = off")  # an empty table: else a scan
        plan = backend.database.execute_sql(f"EXPLAIN {sql}", params).fetchall()
        backend.database.execute_sql("RESET enable_seqscan")
        assert "users_username_lower" in " ".join(row[0] for row in plan)
    elif backend.name == "sqlite":
        plan = backend.database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        assert "INDEX users_username_lower" in " ".join(str(row[-1]) for row in plan)
    else:
        cursor = backend.database.execute_sql(f"EXPLAIN {sql}", params)
        columns = [d[0] for d in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
        assert row["key"] == "users_username"
