"""bcrypt password hashing with the 72-byte rule handled explicitly (PITFALLS)."""

from __future__ import annotations

import functools

import bcrypt

from energy_tui.errors import ValidationError

MIN_CHARACTERS = 8
MAX_BYTES = 72


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    """A hash at the configured cost, so an unknown user costs one bcrypt call too."""
    return bcrypt.hashpw(b"not anyone's password", bcrypt.gensalt(rounds))


def check_rules(password: str) -> None:
    """At least 8 characters, at most 72 UTF-8 bytes; no composition rules."""
    if len(password) < MIN_CHARACTERS:
        raise ValidationError(
            f"password must be at least {MIN_CHARACTERS} characters", field="password"
        )
    size = len(password.encode("utf-8"))
    if size > MAX_BYTES:
        raise ValidationError(
            f"password is {size} bytes in UTF-8: at most {MAX_BYTES} bytes "
            "are accepted (accented letters and symbols take 2-4 bytes)",
            field="password",
        )


def hash_password(password: str, rounds: int) -> str:
    check_rules(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check a password, spending at least one bcrypt call at cost `rounds` on every
    failure: an unknown user (no stored hash) is checked against a dummy hash of that
    cost, and a failure against a stored hash of a lower cost (made before BCRYPT_ROUNDS
    rose) spends a dummy check at `rounds` as well, so that such a user cannot be told
    apart by timing. (A successful login with a cheap hash rehashes at `rounds`.)
    """
    encoded = password.encode("utf-8")
    target = (password_hash or "").encode("ascii", "replace")
    if not target.startswith((b"$2a$", b"$2b$", b"$2y$")):
        target = _dummy_hash(rounds)
    ok, spent = _check(encoded, target, rounds)
    if not ok and spent < rounds:
        bcrypt.checkpw(b"not anyone's password", _dummy_hash(rounds))
    return ok


def _check(encoded: bytes, target: bytes, rounds: int) -> tuple[bool, int]:
    """(whether `encoded` matches `target`, the bcrypt cost that was spent)."""
    if len(encoded) > MAX_BYTES or target == _dummy_hash(rounds):
        bcrypt.checkpw(b"not anyone's password", target)
        return False, cost_of(target.decode("ascii"))
    try:
        return bcrypt.checkpw(encoded, target), cost_of(target.decode("ascii"))
    except ValueError:  # a corrupt stored hash: bcrypt refused it without working
        return False, 0


def cost_of(password_hash: str) -> int:
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return 0
