"""Database URLs: parsing and display, with nothing to connect (cheap to import)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

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
