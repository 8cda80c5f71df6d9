"""Database URLs: parsing and display, with nothing to connect (cheap to import)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from energy_tui.errors import ConfigError

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
_LABELS = {"postgres": "PostgreSQL", "mysql": "MySQL"}
OptionValue = str | int | bool


def _whole(minimum: int, maximum: int) -> Callable[[str], int | None]:
    def parse(text: str) -> int | None:
        ok = text.isascii() and text.isdigit() and minimum <= int(text) <= maximum
        return int(text) if ok else None

    parse.__doc__ = f"a whole number from {minimum} to {maximum}"
    return parse


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def parse(text: str) -> str | None:
        return text if text in choices else None

    parse.__doc__ = f"one of {', '.join(choices)}"
    return parse


def _text(text: str) -> str | None:
    """one line of text"""
    return text if text.isprintable() else None


def _charset(text: str) -> str | None:
    return text if text == "utf8mb4" else None


_charset.__doc__ = (
    "utf8mb4 (utf8 and utf8mb3 cannot hold 4-byte characters such as emoji: the server "
    "would refuse them when written and show them as '?' when read)"
)


def _flag(text: str) -> bool | None:
    """true or false"""
    return {"true": True, "false": False, "1": True, "0": False}.get(text.lower())


# The query options a server URL may carry, checked here (with nothing connected yet): the
# pool's own (Peewee calls int() on them) and the driver's that people use. Anything else
# is refused by name rather than left for the driver to trip over, or to ignore.
_POOL_OPTIONS: dict[str, Callable[[str], OptionValue | None]] = {
    "max_connections": _whole(1, 1000),
    "stale_timeout": _whole(1, 86400),
    "timeout": _whole(1, 3600),
    "connect_timeout": _whole(1, 3600),
}
_OPTIONS: dict[str, dict[str, Callable[[str], OptionValue | None]]] = {
    "postgres": {
        **_POOL_OPTIONS,
        "sslmode": _one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        "sslrootcert": _text,
        "sslcert": _text,
        "sslkey": _text,
        "application_name": _text,
        "options": _text,  # libpq's `-c name=value`; DB_TIMEOUT_SECONDS adds a lock_timeout
        "target_session_attrs": _one_of(
            "any", "read-write", "read-only", "primary", "standby", "prefer-standby"
        ),
    },
    "mysql": {
        **_POOL_OPTIONS,
        "charset": _charset,  # the connection's own; anything narrower is refused
        "read_timeout": _whole(1, 86400),
        "write_timeout": _whole(1, 86400),
        "ssl_ca": _text,
        "ssl_cert": _text,
        "ssl_key": _text,
        "ssl_verify_cert": _flag,
        "ssl_verify_identity": _flag,
    },
}


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
    options: tuple[tuple[str, OptionValue], ...] = ()

    def __str__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite://{self.path}"
        auth = self.user + (":***" if self.password else "")
        scheme = "postgresql" if self.backend == "postgres" else "mysql"
        return f"{scheme}://{auth}{'@' if auth else ''}{self.host}:{self.port}/{self.name}"

    @property
    def label(self) -> str:
        return {"sqlite": "SQLite", **_LABELS}[self.backend]


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
    path, _, query = path.partition("?")
    if query:
        raise ConfigError(
            f"a SQLite URL takes no options (?{query[:40]}): give just the file, "
            "e.g. sqlite:./energy.db"
        )
    if path in (":memory:", "/:memory:"):
        return DatabaseURL("sqlite", path=":memory:")
    if not path:
        raise ConfigError(f"database URL {url!r} names no file: use e.g. sqlite:./energy.db")
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    try:
        where = Path(unquote(path)).expanduser()
    except RuntimeError:  # `~name` for a user this system does not know
        raise ConfigError(
            f"database URL {url[:60]!r} starts with an unknown home folder: "
            "give the path without ~name"
        ) from None
    return DatabaseURL("sqlite", path=str(where.absolute()))


def _parse_server(backend: str, url: str) -> DatabaseURL:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = _DEFAULT_PORTS[backend]
    elif not 1 <= port <= 65535:  # urlsplit takes port 0 (and Python's int() rules)
        raise ConfigError("database URL has an invalid port: expected a number 1-65535")
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
        options=parse_options(backend, parts.query),
    )


def parse_options(backend: str, query: str) -> tuple[tuple[str, OptionValue], ...]:
    """`name=value&...` from a server URL, each option known and well formed, once."""
    known = _OPTIONS[backend]
    options: dict[str, OptionValue] = {}
    for pair in query.split("&") if query else ():
        raw_name, sep, raw_value = pair.partition("=")
        name, value = unquote(raw_name), unquote(raw_value)
        if name not in known:
            raise ConfigError(
                f"database URL option {name[:40]!r} is not supported for {_LABELS[backend]}: "
                f"use {', '.join(known)}"
            )
        parsed = known[name](value) if sep and value else None
        if parsed is None:
            raise ConfigError(
                f"database URL option {name}={value[:40]!r} is not valid: "
                f"expected {known[name].__doc__}"
            )
        if name in options:
            raise ConfigError(f"database URL option {name} is given twice")
        options[name] = parsed
    return tuple(options.items())
