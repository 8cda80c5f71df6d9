"""Parsed database URL -> Peewee database, for SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peewee
from playhouse.pool import PooledMySQLDatabase, PooledPostgresqlDatabase

from energy_tui import locations
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import ConfigError, DatabaseUnavailable

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


class _MySQLDatabase(PooledMySQLDatabase):
    def _initialize_connection(self, conn: Any) -> None:
        with conn.cursor() as cursor:
            for statement in _MYSQL_SESSION:
                cursor.execute(statement)


def open_database(url: DatabaseURL, pool_size: int = 10, timeout: int = 30) -> peewee.Database:
    """Build (but do not connect) the Peewee database for a parsed URL."""
    if url.backend == "sqlite":
        return _sqlite(url, timeout)
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
    if url.backend == "postgres":
        if url.password:
            kwargs["password"] = url.password
        return PooledPostgresqlDatabase(url.name, prefer_psycopg3=True, **kwargs)
    if url.password:
        kwargs["password"] = url.password
    return _MySQLDatabase(url.name, **{"charset": "utf8mb4", **kwargs})


def _sqlite(url: DatabaseURL, timeout: int) -> peewee.SqliteDatabase:
    if url.path != ":memory:":
        _prepare_sqlite_file(Path(url.path))
    return peewee.SqliteDatabase(
        url.path,
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
        raise DatabaseUnavailable(unreachable_message(url, exc)) from exc
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


def unreachable_message(url: DatabaseURL, exc: BaseException) -> str:
    reason = _first_line(url, exc)
    if url.backend == "sqlite":
        return f"cannot open SQLite database {url.path}: {reason}"
    return f"cannot reach {url.label} at {url.host}:{url.port} ({url}): {reason}"
