"""Parsed database URL -> Peewee database, for SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
from playhouse.pool import PooledMySQLDatabase, PooledPostgresqlDatabase

from energy_tui import locations
from energy_tui.db import charset, drivers
from energy_tui.db.failures import busy, cause, is_lock_timeout, sqlite_failure
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import ConfigError, DatabaseUnavailable

# Peewee's driver-error wrapper (a module dunder): driver errors raised as Peewee's.
PEEWEE_ERRORS = getattr(peewee, "__exception_wrapper__")  # noqa: B009

# Column types that differ from Peewee's defaults, per backend.
_FIELD_TYPES = {
    "sqlite": {"PERMISSIONS": "TEXT"},
    "postgres": {"PERMISSIONS": "TEXT[]"},
    # MySQL's DATETIME drops fractions of a second unless asked for them.
    "mysql": {"PERMISSIONS": "TEXT", "DATETIME": "DATETIME(6)"},
}
_MYSQL_SESSION = (
    "SET SESSION sql_mode='STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,"
    "ERROR_FOR_DIVISION_BY_ZERO', time_zone='+00:00'",
    # Reads inside a transaction see what others committed before our lock was
    # granted (the market lock relies on it), as on PostgreSQL.
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
)


# A statement may wait up to DB_TIMEOUT_SECONDS for a lock, and InnoDB notices the
# wait ran out only on its next once-a-second check: a server silent for this much
# longer than the setting is taken as gone, so that the lock's own error comes first.
MYSQL_ANSWER_GRACE = 2


MYSQL_MULTI_STATEMENTS = 1 << 16  # pymysql.constants.CLIENT.MULTI_STATEMENTS


class _MySQLDatabase(PooledMySQLDatabase):
    def __init__(self, name: str, lock_timeout: int, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.lock_timeout = lock_timeout

    def _initialize_connection(self, conn: Any) -> None:
        with conn.cursor() as cursor:
            for statement in _MYSQL_SESSION:
                cursor.execute(statement)
            # Row locks (the market lock) and table locks wait at most the setting.
            cursor.execute(
                "SET SESSION innodb_lock_wait_timeout = %s, lock_wait_timeout = %s",
                (self.lock_timeout, self.lock_timeout),
            )

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        try:
            if self.take_pending_begin():
                super().execute_sql("BEGIN")
            with _busy_when_locked(self.lock_timeout):
                return super().execute_sql(sql, params)
        except (peewee.DataError, peewee.OperationalError) as exc:
            refused = charset.refusal(cause(exc))
            if refused is None:
                raise
            raise refused from exc

    def defer_begin(self, defer: bool = True) -> None:
        """The next `begin` (the outermost `atomic()`'s) sends nothing: BEGIN then leads
        the first text the matcher sends (`market.sql`, `take_pending_begin`), or the
        first other statement, instead of a round trip of its own."""
        self._state.defer_begin = defer

    def begin(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self._state, "defer_begin", False) and not args and not kwargs:
            self._state.defer_begin = False
            self._state.begin_pending = True
            return
        super().begin(*args, **kwargs)

    def take_pending_begin(self) -> bool:
        """Whether a deferred BEGIN is still to be sent (the caller sends it now)."""
        pending = bool(getattr(self._state, "begin_pending", False))
        self._state.begin_pending = False
        return pending

    def commit(self) -> None:
        """COMMIT, unless the server says no transaction is open (the matcher sent its
        COMMIT with its writes, `market.sql.batch`): a round trip saved, as psycopg does."""
        if self.take_pending_begin():
            return  # nothing was sent in the transaction
        conn = None if self.is_closed() else self._state.conn
        if conn is not None and not conn.server_status & _MYSQL_SERVER_STATUS_IN_TRANS:
            return
        super().commit()

    def rollback(self) -> None:
        if self.take_pending_begin():
            return  # nothing was sent in the transaction
        super().rollback()


_MYSQL_SERVER_STATUS_IN_TRANS = 1  # pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS


class _PostgresDatabase(PooledPostgresqlDatabase):
    def __init__(self, name: str, lock_timeout: int, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.lock_timeout = lock_timeout

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        with _busy_when_locked(self.lock_timeout):
            return super().execute_sql(sql, params)


KEPT_CONNECTIONS = 8  # at most this many idle connections kept (`keep_connections`)
FileId = tuple[int, int] | None  # (device, inode) of the file a connection opened


class _SqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose failures say what they are: busy, read-only, full, cannot open.

    With `keep_connections` (the TUI's bridge), a connection closed is kept open for
    the next connect, of whichever thread: a connection opened and closed for each
    call of the order book's refresh cost 1.7 ms of its 4.4 ms of queries on the
    realistic market (the open, its four pragmas, the close, and a cold page cache
    for every statement after it; docs/scale.md, "The book refresh"). A kept
    connection is used again only while the file at the path is the one it opened:
    a file moved away or replaced is noticed as a fresh connect would notice it."""

    def __init__(self, path: str, lock_timeout: int, **kwargs: Any) -> None:
        # A kept connection serves one thread after another, never two at once.
        super().__init__(path, check_same_thread=False, **kwargs)
        self.lock_timeout = lock_timeout
        self._idle: list[tuple[Any, FileId]] | None = None  # None: close for real
        self._idle_lock = threading.Lock()

    def keep_connections(self) -> None:
        """From now on, a connection closed stays open for the next connect."""
        if self.database != ":memory:":  # each connection is a database of its own
            with self._idle_lock:
                if self._idle is None:
                    self._idle = []

    def close_kept(self, *, stop: bool = True) -> None:
        """Close the idle connections kept; with `stop`, keep no more (at exit), else
        keep on with new ones (after a failure, which may have broken them)."""
        with self._idle_lock:
            idle = self._idle or []
            self._idle = None if stop or self._idle is None else []
        for conn, _file in idle:
            conn.close()

    def _file_id(self) -> FileId:
        try:
            found = os.stat(self.database)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def _connect(self) -> Any:
        with self._plain_failures():
            here = self._file_id() if self._idle is not None else None
            kept = self._take_kept(here)
            if kept is not None:
                self._state.file_id = here
                return kept
            conn = super()._connect()
            self._state.file_id = self._file_id() if self._idle is not None else None
            return conn

    def _take_kept(self, here: FileId) -> Any:
        """An idle connection to the file now at the path (None: open one); idle ones
        to another file (moved away, replaced) are closed."""
        with self._idle_lock:
            if not self._idle:
                return None
            stale = [kept for kept in self._idle if here is None or kept[1] != here]
            fresh = [kept for kept in self._idle if here is not None and kept[1] == here]
            self._idle = fresh[:-1]
        for conn, _file in stale:
            conn.close()
        return fresh[-1][0] if fresh else None

    def _close(self, conn: Any) -> None:
        file_id = getattr(self._state, "file_id", None)
        with self._idle_lock:
            keep = (
                self._idle is not None
                and len(self._idle) < KEPT_CONNECTIONS
                and file_id is not None
                and not conn.in_transaction
            )
            if keep:
                assert self._idle is not None
                self._idle.append((conn, file_id))
        if not keep:
            conn.close()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        with self._plain_failures():
            return super().execute_sql(sql, params)

    def execute_plain(self, sql: str, params: Any) -> Any:
        """`execute_sql` without Peewee's per-call machinery (query log, hooks, two
        context managers), with the same errors: for the matcher's fixed statements,
        where that machinery cost more than SQLite running them."""
        try:
            return self.connection().execute(sql, params)
        except sqlite3.Error as exc:
            failure = sqlite_failure(exc, self.database, self.lock_timeout)
            if failure is not None:
                raise failure from exc
            with PEEWEE_ERRORS:  # as Peewee's own error, as `execute_sql` raises it
                raise

    def begin(self, lock_type: str | None = None) -> None:
        with self._plain_failures():  # BEGIN IMMEDIATE waits for the write lock
            super().begin(lock_type)

    def commit(self) -> None:
        with self._plain_failures():  # a full disk may show only when the WAL grows
            super().commit()

    def rollback(self) -> None:
        # SQLite ends the transaction itself on some errors (a full disk, an I/O error);
        # a ROLLBACK then fails and would hide the error that ended it.
        if not self.is_closed() and not self.connection().in_transaction:
            return
        super().rollback()

    @contextlib.contextmanager
    def _plain_failures(self) -> Iterator[None]:
        try:
            yield
        except (peewee.DatabaseError, sqlite3.Error) as exc:
            failure = sqlite_failure(exc, self.database, self.lock_timeout)
            if failure is None:
                raise
            raise failure from exc


@contextlib.contextmanager
def _busy_when_locked(seconds: int) -> Iterator[None]:
    try:
        yield
    except peewee.OperationalError as exc:
        if is_lock_timeout(exc):
            raise busy(seconds) from exc
        raise


def lock_timeout_of(database: peewee.Database) -> int:
    """How long a statement of `database` waits for a lock (DB_TIMEOUT_SECONDS)."""
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    return int(getattr(database, "lock_timeout", 30))


def open_database(url: DatabaseURL, pool_size: int = 10, timeout: int = 30) -> peewee.Database:
    """Build (but do not connect) the Peewee database for a parsed URL.

    `timeout` (DB_TIMEOUT_SECONDS) bounds the connect, the wait for a pooled
    connection, every lock wait, and on MySQL a server that stops answering.
    """
    if url.backend == "sqlite":
        return _sqlite(url, timeout)
    drivers.load(url.backend)
    kwargs: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.user or None,
        "max_connections": pool_size,
        "stale_timeout": 300,  # well below MySQL's default wait_timeout (8 h)
        "timeout": timeout,  # wait this long for a free pooled connection
        "connect_timeout": timeout,
        "field_types": _FIELD_TYPES[url.backend],
        **dict(url.options),
    }
    if url.password:
        kwargs["password"] = url.password
    if url.backend == "postgres":
        kwargs["options"] = _postgres_options(kwargs.get("options"), timeout)
        return _PostgresDatabase(url.name, timeout, prefer_psycopg3=True, **kwargs)
    silence = timeout + MYSQL_ANSWER_GRACE  # PyMySQL waits forever by default
    return _MySQLDatabase(
        url.name,
        timeout,
        **{
            "charset": "utf8mb4",
            "read_timeout": silence,
            "write_timeout": silence,
            # The matcher sends a placement's reads, then its writes and COMMIT, as one
            # text each (market.sql.read_together/flush); values are still bound by
            # the driver, never pasted.
            "client_flag": MYSQL_MULTI_STATEMENTS,
            **kwargs,
        },
    )


def _postgres_options(given: str | None, timeout: int) -> str:
    """libpq's `options` with lock_timeout (a URL's own `options` come first)."""
    own = f"-c lock_timeout={timeout}s"
    return f"{given} {own}" if given else own


def _sqlite(url: DatabaseURL, timeout: int) -> peewee.SqliteDatabase:
    if url.path != ":memory:":
        _prepare_sqlite_file(Path(url.path))
    return _SqliteDatabase(
        url.path,
        timeout,
        timeout=timeout,
        # Every transaction takes the write lock up front: a deferred one that
        # upgrades later fails at once with SQLITE_BUSY under WAL.
        lock_type="IMMEDIATE",
        field_types=_FIELD_TYPES["sqlite"],
        pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "normal",
            "busy_timeout": timeout * 1000,
        },
    )


def _prepare_sqlite_file(path: Path) -> None:
    default = locations.default_database_file()
    if path == default:
        locations.private_dir(path.parent)
    elif not path.parent.is_dir():
        raise ConfigError(
            f"cannot create the SQLite file {path}: folder {path.parent} does not exist"
        )
    if not path.exists():
        locations.private_file(path)


def backend_of(database: peewee.Database) -> str:
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    if isinstance(database, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(database, peewee.PostgresqlDatabase):
        return "postgres"
    if isinstance(database, peewee.MySQLDatabase):
        return "mysql"
    raise ConfigError(f"unsupported database {type(database).__name__}")


def check_reachable(database: peewee.Database, url: DatabaseURL) -> None:
    """Open and close one connection; raise DatabaseUnavailable with a useful message."""
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        raise DatabaseUnavailable(unreachable_message(url, exc, lock_timeout_of(database))) from exc
    except peewee.ImproperlyConfigured as exc:
        extra = "postgres" if url.backend == "postgres" else "mysql"
        raise ConfigError(
            f"the {url.label} driver is not installed: pip install 'energy-tui[{extra}]' ({exc})"
        ) from None
    except (peewee.ProgrammingError, TypeError, ValueError) as exc:
        if not url.options:
            raise
        names = ", ".join(name for name, _ in url.options)
        raise ConfigError(
            f"the {url.label} driver does not accept the database URL's options ({names}): "
            f"{_first_line(url, exc)}"
        ) from None


def _first_line(url: DatabaseURL, exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return reason.replace(url.password, "***") if url.password else reason


def unreachable_message(url: DatabaseURL, exc: BaseException, seconds: int | None = None) -> str:
    reason = _first_line(url, exc)
    if seconds is not None and _timed_out(exc):
        reason = f"the server does not answer (nothing within DB_TIMEOUT_SECONDS={seconds})"
    if url.backend == "sqlite":
        return f"cannot open SQLite database {url.path}: {reason}"
    return f"cannot reach {url.label} at {url.host}:{url.port} ({url}): {reason}"


def _timed_out(exc: BaseException) -> bool:
    """A connection that opened (or not) but got no answer in time: PyMySQL says "timed
    out", libpq "timeout expired"."""
    error = cause(exc)
    text = str(error).lower()
    return isinstance(error, TimeoutError) or "timed out" in text or "timeout expired" in text
