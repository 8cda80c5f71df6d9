"""Re-entering the current password (before a password change), on every backend: a
wrong one counts like a failed login and says how many tries are left."""

from __future__ import annotations

import datetime as dt

import pytest

from energy_tui.db.models import User
from energy_tui.errors import AuthError
from energy_tui.services import auth
from tests.auth_support import PASSWORD, add_user, settings


@pytest.fixture
def bob(backend, now) -> User:
    return add_user("bob")


def wrong(**changes: object) -> str:
    with pytest.raises(AuthError) as caught:
        auth.confirm_password("bob", "wrong password", settings(**changes))
    return str(caught.value)


def test_a_wrong_current_password_counts_down_the_tries_left(bob, now):
    rules = {"login_max_failures": 3, "login_lockout_minutes": 20}
    assert wrong(**rules) == (
        "the current password is not right: 2 tries left before the account locks for 20 minutes"
    )
    assert wrong(**rules) == (
        "the current password is not right: 1 try left before the account locks for 20 minutes"
    )
    assert wrong(**rules) == (
        "the current password is not right: the account is now locked for 20 minutes"
    )
    row = User.get_by_id(bob.id)
    assert (row.failed_logins, row.locked_until) == (3, now() + dt.timedelta(minutes=20))


def test_a_lock_that_ran_out_starts_the_count_again(bob, now):
    rules = {"login_max_failures": 2, "login_lockout_minutes": 15}
    wrong(**rules)
    wrong(**rules)
    now.advance(minutes=16)
    assert "1 try left" in wrong(**rules)


def test_the_right_current_password_resets_the_count(bob):
    wrong()
    auth.confirm_password("bob", PASSWORD, settings())
    assert User.get_by_id(bob.id).failed_logins == 0
    assert "4 tries left" in wrong()  # the defaults: 5 failures, 15 minutes
