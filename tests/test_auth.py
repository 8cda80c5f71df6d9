"""Password login, lockout, sessions and their timeouts, on every backend."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re

import bcrypt
import pytest

from energy_tui.db.models import AuditSecret, Session, User, db
from energy_tui.errors import AuthError, SessionEnded
from energy_tui.services import audit, auth, passwords, users
from tests.auth_support import (
    OPERATOR,
    PASSWORD,
    add_user,
    audit_since,
    events_since,
    last_audit_id,
    settings,
    snapshot,
)

GENERIC = "invalid username or password"


@pytest.fixture
def bob(backend, now) -> User:
    return add_user("bob")


def login(name: str = "bob", password: str = PASSWORD, **changes: object) -> auth.LoginResult:
    return auth.authenticate(name, password, "192.0.2.7", settings(**changes))


def refused(name: str, password: str, **changes: object) -> str:
    with pytest.raises(AuthError) as caught:
        login(name, password, **changes)
    return str(caught.value)


# --- success -------------------------------------------------------------------------


def test_correct_password_opens_a_session_storing_only_the_token_hash(bob, now):
    result = login()
    session = Session.get_by_id(result.session_id)
    assert len(result.token) >= 43
    assert session.token_hash == hashlib.sha256(result.token.encode()).hexdigest()
    assert result.token not in {session.token_hash, str(session.id)}
    assert (session.user_id, session.ip_address, session.ended_at) == (bob.id, "192.0.2.7", None)
    assert session.created_at == session.last_seen == now()


def test_login_returns_the_users_actor_and_sets_last_login(bob, now):
    result = login()
    actor = result.actor
    assert (actor.label, actor.role, actor.username) == ("user:bob", "trader", "bob")
    assert (actor.user_id, actor.prosumer_address, actor.ip_address) == (
        bob.id,
        "bob-home",
        "192.0.2.7",
    )
    assert actor.permissions is None
    assert User.get_by_id(bob.id).last_login == now()


def test_login_is_audited_with_user_and_address(bob):
    start = last_audit_id()
    result = login()
    [row] = audit_since(start)
    assert (row.event_type, row.outcome, row.user_id, row.ip_address) == (
        "user_login",
        "success",
        bob.id,
        "192.0.2.7",
    )
    assert json.loads(row.event_data)["session_id"] == str(result.session_id)


def test_each_login_gets_a_fresh_token(bob):
    assert login().token != login().token
    assert Session.select().count() == 2


def test_without_an_ip_the_ssh_client_address_is_used(bob, monkeypatch):
    monkeypatch.setenv("SSH_CLIENT", "203.0.113.5 51234 22")
    result = auth.authenticate("bob", PASSWORD, None, settings())
    assert result.actor.ip_address == "203.0.113.5"
    assert Session.get_by_id(result.session_id).ip_address == "203.0.113.5"


# --- refused -------------------------------------------------------------------------

BAD_LOGINS = [
    pytest.param("bob", "wrong password", "bad_password", id="wrong-password"),
    pytest.param("nobody", PASSWORD, "unknown_user", id="unknown-user"),
    pytest.param("", PASSWORD, "unknown_user", id="empty-username"),
    pytest.param("bob", "", "bad_password", id="empty-password"),
    pytest.param("b" * 10_000, PASSWORD, "unknown_user", id="10000-char-username"),
    pytest.param("bob", "p" * 10_000, "bad_password", id="10000-char-password"),
    pytest.param("bob", PASSWORD + "x" * 60, "bad_password", id="password-over-72-bytes"),
    pytest.param("bob", "é" * 37, "bad_password", id="37-chars-74-bytes"),
    pytest.param("bob", "\udcff" * 9, "bad_password", id="not-utf8-encodable"),
    pytest.param("bob\x00", PASSWORD, "unknown_user", id="nul-in-username"),
]


@pytest.mark.parametrize(("name", "password", "reason"), BAD_LOGINS)
def test_bad_login_gets_the_generic_message_an_audit_row_and_nothing_else(
    bob, name, password, reason
):
    before, start = snapshot(), last_audit_id()
    assert refused(name, password) == GENERIC
    assert events_since(start) == [("login_failed", "failure", reason)]
    after = snapshot()
    if reason == "bad_password":  # the one thing a wrong password may change: the count
        assert User.get_by_id(bob.id).failed_logins == 1
        User.update(failed_logins=0).where(User.id == bob.id).execute()
        after = snapshot()
    assert after == before


@pytest.mark.parametrize(("name", "password", "reason"), BAD_LOGINS)
def test_every_login_path_spends_exactly_one_bcrypt_check(bob, monkeypatch, name, password, reason):
    refused("nobody", "warm-up")  # builds the cached dummy hash
    calls = []
    real = bcrypt.checkpw

    def counted(secret: bytes, hashed: bytes) -> bool:
        calls.append(hashed[:7])
        assert not db.in_transaction(), "bcrypt ran inside a transaction"
        return real(secret, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counted)
    refused(name, password)
    assert len(calls) == 1
    assert calls[0] == b"$2b$04$"  # at the configured cost, known user or not


def test_successful_login_spends_one_bcrypt_check_outside_transactions(bob, monkeypatch):
    calls = []
    real = bcrypt.checkpw

    def counted(secret: bytes, hashed: bytes) -> bool:
        calls.append(db.in_transaction())
        return real(secret, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counted)
    login()
    assert calls == [False]


def test_unknown_user_audit_keeps_a_keyed_hash_never_the_typed_text(bob):
    start = last_audit_id()
    refused("Tr0ub4dor&3-typed-here", "hunter2hunter2")  # a password in the wrong field
    [row] = audit_since(start)
    assert row.user_id is None
    data = json.loads(row.event_data)
    assert set(data) == {"reason", "username_hmac"} and data["reason"] == "unknown_user"
    assert re.fullmatch(r"[0-9a-f]{16}", data["username_hmac"])
    assert data["username_hmac"] == audit.keyed_hash("Tr0ub4dor&3-typed-here")
    assert "Tr0ub4dor" not in row.event_data and "hunter2" not in row.event_data


def test_the_keyed_hash_is_an_hmac_under_a_secret_stored_once_in_the_database(bob):
    refused("mallory", "x" * 8)
    [secret] = AuditSecret.select()
    assert re.fullmatch(r"[0-9a-f]{64}", secret.secret)
    expected = hmac.new(bytes.fromhex(secret.secret), b"mallory", hashlib.sha256).hexdigest()
    assert audit.keyed_hash("mallory") == expected[:16]
    assert audit.keyed_hash("mallory") != hashlib.sha256(b"mallory").hexdigest()[:16]
    refused("mallory", "y" * 8)
    assert AuditSecret.select().count() == 1


def test_a_process_that_loses_the_race_to_make_the_secret_uses_the_winners(bob, monkeypatch):
    winner = AuditSecret.create(id=1, secret="ab" * 32)
    monkeypatch.setattr(AuditSecret, "get_or_none", classmethod(lambda cls, *a: None))
    start = last_audit_id()
    refused("mallory", "hunter2hunter2")  # its insert collides inside the login transaction
    [row] = audit_since(start)
    expected = hmac.new(bytes.fromhex(winner.secret), b"mallory", hashlib.sha256).hexdigest()
    assert json.loads(row.event_data)["username_hmac"] == expected[:16]
    assert [r.secret for r in AuditSecret.select()] == [winner.secret]


def test_repeated_attempts_on_one_unknown_name_can_be_grouped(bob):
    start = last_audit_id()
    for name in ("mallory", "mallory", "trudy"):
        refused(name, "hunter2hunter2")
    hashes = [json.loads(row.event_data)["username_hmac"] for row in audit_since(start)]
    assert hashes[0] == hashes[1] != hashes[2]
    rows = audit.entries(username="mallory", event_type="login_failed")
    assert [entry.data["username_hmac"] for entry in rows] == hashes[:2]


def test_bad_password_audit_names_the_user_and_counts(bob):
    start = last_audit_id()
    refused("bob", "hunter2hunter2")
    [row] = audit_since(start)
    assert row.user_id == bob.id
    assert json.loads(row.event_data) == {"failures": 1, "reason": "bad_password"}
    assert "hunter2" not in row.event_data


def test_inactive_user_is_refused_after_the_correct_password(bob):
    users.set_active(OPERATOR, "bob", False)
    start = last_audit_id()
    assert "disabled" in refused("bob", PASSWORD)
    assert events_since(start) == [("login_failed", "failure", "inactive")]
    assert Session.select().count() == 0


def test_inactive_user_with_a_wrong_password_sees_only_the_generic_message(bob):
    users.set_active(OPERATOR, "bob", False)
    assert refused("bob", "wrong password") == GENERIC


# --- lockout -------------------------------------------------------------------------


def fail(times: int, **changes: object) -> None:
    for _ in range(times):
        assert refused("bob", "wrong password", **changes) == GENERIC


def test_account_locks_after_max_failures_and_says_so_only_after_the_right_password(bob, now):
    start = last_audit_id()
    fail(3, login_max_failures=3, login_lockout_minutes=15)
    row = User.get_by_id(bob.id)
    assert (row.failed_logins, row.locked_until) == (3, now() + dt.timedelta(minutes=15))
    assert events_since(start)[-1] == ("account_locked", "failure", None)
    assert refused("bob", "wrong password", login_max_failures=3) == GENERIC
    message = refused("bob", PASSWORD, login_max_failures=3)
    assert "locked" in message and "15 minutes" in message
    assert events_since(start)[-2:] == [
        ("login_failed", "failure", "locked"),
        ("login_failed", "failure", "locked"),
    ]
    assert Session.select().count() == 0


def test_lock_message_counts_down(bob, now):
    fail(5)  # the defaults: 5 failures, 15 minutes
    now.advance(minutes=10, seconds=30)
    assert "try again in 5 minutes" in refused("bob", PASSWORD)
    now.advance(minutes=4)
    assert "try again in 1 minute " in refused("bob", PASSWORD)


def test_failures_while_locked_do_not_extend_the_lock(bob, now):
    fail(5)
    until = User.get_by_id(bob.id).locked_until
    now.advance(minutes=5)
    fail(3)
    assert User.get_by_id(bob.id).locked_until == until


def test_lock_ends_after_the_lockout_and_login_resets_the_count(bob, now):
    fail(5)
    now.advance(minutes=15)
    result = login()
    assert result.username == "bob"
    row = User.get_by_id(bob.id)
    assert (row.failed_logins, row.locked_until) == (0, None)


def test_a_failure_after_the_lock_ran_out_starts_a_new_count(bob, now):
    fail(5)
    now.advance(minutes=16)
    fail(1)
    row = User.get_by_id(bob.id)
    assert (row.failed_logins, row.locked_until) == (1, None)


def test_success_before_the_limit_resets_the_count(bob):
    fail(4)
    login()
    fail(4)
    assert User.get_by_id(bob.id).locked_until is None


def test_failures_are_counted_per_account(bob):
    add_user("carol")
    fail(4)
    assert refused("carol", "wrong password") == GENERIC
    assert User.get(User.username == "carol").failed_logins == 1
    assert login().username == "bob"


def test_enabling_a_user_clears_the_lock(bob):
    fail(5)
    users.set_active(OPERATOR, "bob", False)
    users.set_active(OPERATOR, "bob", True)
    assert login().username == "bob"


# --- hashes --------------------------------------------------------------------------


def test_login_rehashes_when_the_configured_cost_rose(bob):
    result = login(bcrypt_rounds=5)
    stored = User.get_by_id(bob.id).password_hash
    assert result.rehashed
    assert passwords.cost_of(stored) == 5
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert not login(bcrypt_rounds=5).rehashed


def test_login_keeps_the_hash_when_the_cost_is_unchanged_or_lower(bob):
    stored = User.get_by_id(bob.id).password_hash
    assert not login(bcrypt_rounds=4).rehashed
    assert User.get_by_id(bob.id).password_hash == stored


def bcrypt_costs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The cost of every bcrypt check from now on (work doubles with each step)."""
    costs: list[int] = []
    real = bcrypt.checkpw

    def counted(secret: bytes, hashed: bytes) -> bool:
        costs.append(passwords.cost_of(hashed.decode("ascii", "replace")))
        return real(secret, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counted)
    return costs


FAILURES_AT_A_HIGHER_COST = [
    pytest.param("nobody", PASSWORD, id="unknown-user"),
    pytest.param("bob", "wrong password", id="wrong-password"),
    pytest.param("bob", "p" * 100, id="password-over-72-bytes"),
    pytest.param("bob", "\udcff" * 9, id="not-utf8-encodable"),
]


@pytest.mark.parametrize(("name", "password"), FAILURES_AT_A_HIGHER_COST)
def test_a_failure_costs_a_check_at_the_configured_cost_whatever_the_stored_cost(
    bob, monkeypatch, name, password
):
    """bob's hash has cost 4; BCRYPT_ROUNDS is now 6. Each failure, his or an unknown
    user's, spends one check at cost 6; his own cheaper check comes on top of it."""
    refused("nobody", "warm-up", bcrypt_rounds=6)  # builds the cached dummy hash
    costs = bcrypt_costs(monkeypatch)
    assert refused(name, password, bcrypt_rounds=6) == GENERIC
    assert costs.count(6) == 1 and all(cost < 6 for cost in costs if cost != 6), costs


def test_a_failure_against_a_corrupt_stored_hash_costs_a_configured_check(bob, monkeypatch):
    User.update(password_hash="$2b$12$corrupt").where(User.id == bob.id).execute()
    costs = bcrypt_costs(monkeypatch)
    assert refused("bob", PASSWORD) == GENERIC
    assert costs[-1] == 4  # BCRYPT_ROUNDS of the tests


def test_success_with_a_cheaper_hash_still_rehashes_without_a_dummy_check(bob, monkeypatch):
    costs = bcrypt_costs(monkeypatch)
    assert login(bcrypt_rounds=6).rehashed
    assert costs == [4]
    assert passwords.cost_of(User.get_by_id(bob.id).password_hash) == 6


@pytest.mark.parametrize("variant", ["$2a$", "$2b$", "$2y$"])
def test_hashes_of_every_bcrypt_variant_verify(bob, variant):
    made = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    foreign = variant + made[4:]
    User.update(password_hash=foreign).where(User.id == bob.id).execute()
    assert login().username == "bob"
    assert refused("bob", "wrong password") == GENERIC
    assert User.get_by_id(bob.id).password_hash == foreign  # same cost: left alone


def test_a_corrupt_stored_hash_is_a_failed_login(bob):
    User.update(password_hash="not a bcrypt hash").where(User.id == bob.id).execute()
    assert refused("bob", PASSWORD) == GENERIC


# --- sessions ------------------------------------------------------------------------


def test_resume_returns_the_actor_and_marks_the_session_seen(bob, now):
    result = login()
    now.advance(minutes=5)
    actor = auth.resume(result.token, settings())
    assert actor == result.actor
    assert Session.get_by_id(result.session_id).last_seen == now()


def test_session_locks_after_the_idle_time(bob, now):
    result = login()
    now.advance(minutes=14)
    auth.touch(result.token, settings())
    now.advance(minutes=15)
    start = last_audit_id()
    with pytest.raises(AuthError, match="15 minutes without activity"):
        auth.resume(result.token, settings())
    session = Session.get_by_id(result.session_id)
    assert (session.ended_at, session.end_reason) == (now(), "idle")
    assert events_since(start) == [("session_ended", "success", "idle")]
    with pytest.raises(AuthError, match="15 minutes without activity"):
        auth.resume(result.token, settings())


def test_session_ends_after_its_absolute_lifetime_even_when_active(bob, now):
    result = login()
    for _ in range(12 * 6 - 1):
        now.advance(minutes=10)
        auth.touch(result.token, settings())
    now.advance(minutes=10)
    with pytest.raises(AuthError, match="at most 12 hours"):
        auth.touch(result.token, settings())
    assert Session.get_by_id(result.session_id).end_reason == "expired"


def test_timeouts_follow_the_settings(bob, now):
    result = login()
    now.advance(minutes=3)
    with pytest.raises(AuthError, match="3 minutes"):
        auth.resume(result.token, settings(session_idle_minutes=3))


@pytest.mark.parametrize("token", ["", "x", "t" * 10_000, "\x00"])
def test_unknown_session_tokens_are_refused(bob, token):
    login()
    with pytest.raises(AuthError, match="log in again"):
        auth.resume(token, settings())


def test_logout_ends_the_session_and_is_audited(bob, now):
    result = login()
    start = last_audit_id()
    assert auth.logout(result.token)
    session = Session.get_by_id(result.session_id)
    assert (session.ended_at, session.end_reason) == (now(), "logout")
    assert events_since(start) == [("logout", "success", None)]
    assert not auth.logout(result.token)
    with pytest.raises(AuthError):
        auth.resume(result.token, settings())


def test_disabling_a_user_ends_their_sessions(bob):
    result = login()
    users.set_active(OPERATOR, "bob", False)
    assert Session.get_by_id(result.session_id).end_reason == "disabled"
    with pytest.raises(AuthError):
        auth.resume(result.token, settings())


def test_a_session_of_a_user_disabled_behind_its_back_ends_on_next_use(bob):
    result = login()
    User.update(is_active=False).where(User.id == bob.id).execute()
    with pytest.raises(AuthError, match="disabled"):
        auth.resume(result.token, settings())
    assert Session.get_by_id(result.session_id).end_reason == "disabled"


def test_changing_the_password_ends_sessions(bob):
    result = login()
    users.set_password(OPERATOR, "bob", "a new password", rounds=4)
    assert Session.get_by_id(result.session_id).end_reason == "password_changed"
    assert refused("bob", PASSWORD) == GENERIC
    assert login(password="a new password").username == "bob"


# --- the session check before each TUI call --------------------------------------------


def test_check_session_returns_the_user_as_the_database_has_them_now(bob, now):
    result = login()
    assert auth.check_session(result.token, settings()).actor == result.actor
    users.set_role(OPERATOR, "bob", "viewer")
    fresh = auth.check_session(result.token, settings()).actor
    assert (fresh.role, fresh.prosumer_address, fresh.user_id) == ("viewer", "bob-home", bob.id)
    assert Session.get_by_id(result.session_id).ended_at is None  # a new role ends nothing


def _ended_elsewhere(how: str, token: str) -> None:
    if how == "logout":
        auth.logout(token)
    elif how == "password_changed":
        users.set_password(OPERATOR, "bob", "a new password", rounds=4)
    else:
        users.set_active(OPERATOR, "bob", False)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("logout", "you logged out in another session"),
        ("password_changed", "your password was changed in another session"),
        ("disabled", "your account was disabled"),
    ],
)
def test_check_session_says_why_a_session_ended_elsewhere(bob, now, how, message):
    result = login()
    _ended_elsewhere(how, result.token)
    start = last_audit_id()
    with pytest.raises(SessionEnded, match=message) as caught:
        auth.check_session(result.token, settings(), seen=True)
    assert caught.value.reason == how
    assert Session.get_by_id(result.session_id).end_reason == how  # not overwritten
    assert audit_since(start) == []


@pytest.mark.parametrize(
    ("minutes", "reason", "message"),
    [
        (15, "idle", "locked after 15 minutes without activity"),
        (12 * 60, "expired", "sessions last at most 12 hours"),
    ],
)
def test_check_session_ends_an_idle_or_too_old_session_with_its_reason(
    bob, now, minutes, reason, message
):
    result = login()
    now.advance(minutes=minutes)
    if reason == "expired":  # active all along: only its age ends it
        Session.update(last_seen=now.advance(seconds=-30)).where(
            Session.id == result.session_id
        ).execute()
        now.advance(seconds=30)
    start = last_audit_id()
    with pytest.raises(SessionEnded, match=message) as caught:
        auth.check_session(result.token, settings(), seen=True)
    assert caught.value.reason == reason
    session = Session.get_by_id(result.session_id)
    assert (session.ended_at, session.end_reason) == (now(), reason)
    assert events_since(start) == [("session_ended", "success", reason)]


def test_check_session_moves_last_seen_on_activity_at_most_once_a_minute(bob, now):
    result = login()
    started = now()

    def last_seen():
        return Session.get_by_id(result.session_id).last_seen

    now.advance(minutes=10)
    assert not auth.check_session(result.token, settings()).touched  # no activity: a poll
    assert last_seen() == started
    now.advance(seconds=30)
    assert auth.check_session(result.token, settings(), seen=True).touched
    assert last_seen() == now()
    seen_at = now()
    now.advance(seconds=59)
    assert not auth.check_session(result.token, settings(), seen=True).touched
    assert last_seen() == seen_at
    now.advance(seconds=1)
    assert auth.check_session(result.token, settings(), seen=True).touched
    assert last_seen() == now()


def test_ending_a_session_records_the_reason_once(bob, now):
    result = login()
    start = last_audit_id()
    assert auth.end_session(result.token, "idle")
    assert not auth.end_session(result.token, "locked")  # already ended: its reason stays
    assert Session.get_by_id(result.session_id).end_reason == "idle"
    assert events_since(start) == [("session_ended", "success", "idle")]
    with pytest.raises(SessionEnded, match="15 minutes without activity"):
        auth.check_session(result.token, settings())


def test_list_sessions_newest_first_with_state(bob, now):
    first = login()
    now.advance(minutes=1)
    second = login()
    auth.logout(first.token)
    listed = auth.list_sessions("bob")
    assert [s.id for s in listed] == [second.session_id, first.session_id]
    assert [s.active for s in listed] == [True, False]
    assert listed[1].end_reason == "logout"
    assert auth.list_sessions(bob) == listed
    assert auth.list_sessions("nobody") == []


def test_actor_for_session_uses_the_sessions_address(bob):
    result = login()
    session = Session.get_by_id(result.session_id)
    assert auth.actor_for_session(User.get_by_id(bob.id), session) == result.actor


@pytest.mark.parametrize("typed", ["bob", "BOB", "Bob", " bOB "])
def test_login_by_any_case_of_the_username_finds_the_one_account(bob, typed):
    result = login(typed)
    assert (result.user_id, result.username) == (bob.id, "bob")


def test_wrong_passwords_typed_in_any_case_count_against_the_one_account(bob):
    refused("BOB", "wrong password")
    refused("Bob", "wrong password")
    assert User.get_by_id(bob.id).failed_logins == 2
