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
    """One bcrypt call whether or not there is a usable hash or an acceptable password.

    `rounds` is the cost spent when there is no stored hash (unknown user).
    """
    encoded = password.encode("utf-8")
    target = (password_hash or "").encode("ascii", "replace")
    if not target.startswith((b"$2a$", b"$2b$", b"$2y$")):
        target = _dummy_hash(rounds)
    if len(encoded) > MAX_BYTES or target == _dummy_hash(rounds):
        bcrypt.checkpw(b"not anyone's password", target)
        return False
    try:
        return bcrypt.checkpw(encoded, target)
    except ValueError:  # a corrupt stored hash
        return False


def cost_of(password_hash: str) -> int:
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return 0
