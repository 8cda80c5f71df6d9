"""Database URL -> Peewee database, for SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from playhouse.pool import PooledMySQLDatabase, PooledPostgresqlDatabase

from energy_tui import locations
from energy_tui.errors import ConfigError, DatabaseUnavailable

SUPPORTED = "sqlite:PATH, sqlite:///ABS/PATH, sqlite://:memory:, postgresql://..., mysql://..."
_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "postgresql+psycopg": "postgres",
    "mysql": "mysql",
    "mysql+pymysql": "mysql",
    "mariadb": "mysql",
}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
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


@dataclasses.dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. `str()` never shows the password."""

    backend: str  # sqlite | postgres | mysql
    path: str = ""  # sqlite: file path or ':memory:'
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = dataclasses.field(default="", repr=False)
    name: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite://{self.path}"
        auth = self.user + (":***" if self.password else "")
        scheme = "postgresql" if self.backend == "postgres" else "mysql"
        return f"{scheme}://{auth}{'@' if auth else ''}{self.host}:{self.port}/{self.name}"

    @property
    def label(self) -> str:
        names = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL"}
        return names[self.backend]


def parse_url(url: str) -> DatabaseURL:
    """Parse every URL form of DESIGN §2; raise ConfigError for anything else."""
    url = url.strip()
    scheme, sep, rest = url.partition(":")
    backend = _SCHEMES.get(scheme.lower()) if sep else None
    if backend is None:
        shown = scheme if sep else url
        raise ConfigError(f"unsupported database URL {shown[:40]!r}...: use one of {SUPPORTED}")
    if backend == "sqlite":
        return _parse_sqlite(rest, url)
    return _parse_server(backend, url)


def _parse_sqlite(rest: str, url: str) -> DatabaseURL:
    path = rest[2:] if rest.startswith("//") else rest
    path = path.partition("?")[0]
    if path in (":memory:", "/:memory:"):
        return DatabaseURL("sqlite", path=":memory:")
    if not path:
        raise ConfigError(f"database URL {url!r} names no file: use e.g. sqlite:./energy.db")
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    return DatabaseURL("sqlite", path=str(Path(unquote(path)).expanduser().absolute()))


def _parse_server(backend: str, url: str) -> DatabaseURL:
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS[backend]
    except ValueError:
        raise ConfigError("database URL has an invalid port: expected a number 1-65535") from None
    name = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not name:
        raise ConfigError(
            f"database URL must name a host and a database: {backend}"
            "://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return DatabaseURL(
        backend,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        name=name,
        options=tuple(parse_qsl(parts.query)),
    )


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
