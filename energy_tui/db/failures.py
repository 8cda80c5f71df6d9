"""Driver errors with a plain meaning, turned into the domain's errors in one place.

A lock wait that ran out (SQLite's "database is locked", PostgreSQL's lock_timeout,
MySQL's innodb_lock_wait_timeout) is `DatabaseBusy`; a SQLite file that cannot be
written or grown says which of read-only file, read-only filesystem or full disk it is.
Everything else is left as the driver raised it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import peewee

from energy_tui.errors import (
    ConfigError,
    DatabaseBusy,
    DatabaseFull,
    DatabaseUnavailable,
    EnergyError,
)

# sqlite3's primary result codes (an extended code keeps them in its low byte).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_FULL, _SQLITE_CANTOPEN = 5, 6, 8, 13, 14
_SQLITE_BY_TEXT = {
    "database is locked": _SQLITE_BUSY,
    "attempt to write a readonly database": _SQLITE_READONLY,
    "database or disk is full": _SQLITE_FULL,
    "unable to open database file": _SQLITE_CANTOPEN,
}
_PG_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out
_MYSQL_LOCK_WAIT_TIMEOUT = 1205  # innodb_lock_wait_timeout or lock_wait_timeout ran out
_PG_OUT_OF_RANGE = "22003"  # numeric_value_out_of_range: past a column's precision
_MYSQL_OUT_OF_RANGE = 1264  # "Out of range value for column" (strict mode)


def cause(exc: BaseException) -> BaseException:
    """The driver's exception under Peewee's wrapper (Peewee keeps it as `orig`)."""
    if isinstance(exc, peewee.PeeweeException):
        inner = getattr(exc, "orig", None) or exc.__context__
        if isinstance(inner, BaseException):
            return inner
    return exc


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether `exc` (wrapped by Peewee or not) says a lock wait ran out."""
    error = cause(exc)
    if isinstance(error, sqlite3.Error):
        return _sqlite_code(error) in (_SQLITE_BUSY, _SQLITE_LOCKED)
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)  # psycopg 3, 2
    if code == _PG_LOCK_NOT_AVAILABLE:
        return True
    return type(error).__module__.startswith("pymysql") and _first_arg(error) == (
        _MYSQL_LOCK_WAIT_TIMEOUT
    )


def is_out_of_range(exc: BaseException) -> bool:
    """Whether `exc` (wrapped by Peewee or not) is a write refused as past the column's
    precision (PostgreSQL, MariaDB in strict mode; SQLite stores such a value inexact)."""
    error = cause(exc)
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code == _PG_OUT_OF_RANGE:
        return True
    return type(error).__module__.startswith("pymysql") and _first_arg(error) == (
        _MYSQL_OUT_OF_RANGE
    )


def busy(seconds: int) -> DatabaseBusy:
    return DatabaseBusy(
        f"the database is busy: another change held it for more than {seconds} s, try again",
        seconds,
    )


def sqlite_failure(exc: BaseException, path: str, seconds: int) -> EnergyError | None:
    """The domain error for a sqlite3 error on the file at `path`, if it has one."""
    error = cause(exc)
    if not isinstance(error, sqlite3.Error):
        return None
    code = _sqlite_code(error)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return busy(seconds)
    if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN) and _on_read_only_filesystem(Path(path)):
        return ConfigError(
            f"cannot write to SQLite database {path}: it is on a read-only filesystem; "
            "use a file on a writable disk"
        )
    if code == _SQLITE_READONLY:
        return ConfigError(_read_only_message(Path(path)))
    if code == _SQLITE_FULL:
        return DatabaseFull(
            f"cannot write to SQLite database {path}: the disk is full (or the file reached "
            "its size limit); nothing was written: free some space and try again"
        )
    if code == _SQLITE_CANTOPEN:  # may pass (a disk coming back): the TUI retries
        return DatabaseUnavailable(
            f"cannot open SQLite database {path}: the file or its folder is missing, or "
            "cannot be read or written by this user (SQLite also makes files next to it)"
        )
    return None


def _read_only_message(path: Path) -> str:
    start = f"cannot write to SQLite database {path}:"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{start} the file is read-only; make it writable (chmod u+w) or use another file"
    if not os.access(path.parent, os.W_OK):
        return (
            f"{start} its folder {path.parent} is read-only, and SQLite must write its "
            "journal files there; make the folder writable"
        )
    return f"{start} it is open read-only; nothing was written"


def _on_read_only_filesystem(path: Path) -> bool:
    target = path if path.exists() else path.parent
    try:
        return bool(os.statvfs(target).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _sqlite_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    return _SQLITE_BY_TEXT.get(str(error).strip().lower())


def _first_arg(error: BaseException) -> object:
    return error.args[0] if error.args else None
