"""The domain errors. Their messages are written to be shown to a user as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energy_tui.services.context import Actor


class EnergyError(Exception):
    """Base of every error energy-tui raises on purpose."""

    exit_code = 1


class ConfigError(EnergyError):
    """A setting or a database URL is malformed or unsupported."""

    exit_code = 2


class ValidationError(EnergyError):
    """Input is malformed or out of range; nothing was written."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ValidationError):
    """The thing named does not exist."""


class Conflict(ValidationError):
    """The write would duplicate something unique."""


class InsufficientFunds(ValidationError):
    """Not enough available WATT or energy for what was asked."""


class LimitExceeded(ValidationError):
    """Settling the request would take a stored amount (a balance, a cumulative total, a
    day's statistic) past what its column holds; nothing was written. The request is
    well formed on its own: the state of the accounts or of the market forbids it, so the
    API answers 409, and the CLI exits 2 as for InsufficientFunds (3 is for a caller
    who may not act, not for an act the market cannot record)."""


class AuthError(EnergyError):
    """Authentication failed (bad password, key, locked or disabled account)."""

    exit_code = 3


class SessionEnded(AuthError):
    """A login session is over; `reason` is its `end_reason` (idle, expired, disabled,
    password_changed, logout, locked) and the message says which, for the user."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class SessionChanged(AuthError):
    """The session's user changed behind its back (role, linked prosumer): the call was
    refused because it was prepared for the user as they were. `actor` is who they are now."""

    def __init__(self, message: str, actor: Actor) -> None:
        super().__init__(message)
        self.actor = actor


class PermissionDenied(EnergyError):
    """The actor's role or key does not allow the action."""

    exit_code = 3


class DatabaseUnavailable(EnergyError):
    """The database server cannot be reached."""

    exit_code = 1


class DatabaseBusy(EnergyError):
    """Another transaction held a lock longer than DB_TIMEOUT_SECONDS; nothing was written.

    Not bad input and not a lost server: the same command may well work a moment later,
    so the CLI exits with 75 (EX_TEMPFAIL in sysexits.h, "try again later").
    """

    exit_code = 75

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


class MarketBusy(DatabaseBusy):
    """The market lock was held by another order longer than DB_TIMEOUT_SECONDS."""


class DatabaseFull(EnergyError):
    """The SQLite file cannot grow (full disk or size limit); nothing was written."""

    exit_code = 1
