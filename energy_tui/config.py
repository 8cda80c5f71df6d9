"""Settings, resolved from: --db flag > environment > ./.env > config file > defaults.

Every setting has one name (the environment variable's); the config file
(`config.toml` in the user config dir) takes the same names in lower or upper case.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from energy_tui import locations
from energy_tui.errors import ConfigError


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _bcrypt_rounds(text: str) -> int:
    value = int(text)
    if not 4 <= value <= 31:
        raise ValueError
    return value


def _rate(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or not 0 <= value < 1:
        raise ValueError
    return value


def _price(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.0001")):
        raise ValueError
    return value


def _address(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 100:
        raise ValueError
    return value


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    default: str
    parse: Callable[[str], Any]
    accepts: str
    help: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "DATABASE_URL",
        "",
        str,
        "sqlite:/postgresql:/mysql: URL",
        "Database; empty means the SQLite file energy_trading.db in the user data dir",
    ),
    Option(
        "DB_POOL_SIZE",
        "10",
        _positive_int,
        "integer >= 1",
        "Connections kept per process (PostgreSQL, MySQL)",
    ),
    Option(
        "DB_TIMEOUT_SECONDS",
        "30",
        _positive_int,
        "integer >= 1",
        "Connect timeout, how long to wait for a lock (the market's included) or a pooled "
        "connection, and on MySQL for a silent server",
    ),
    Option(
        "GRID_FEE_RATE",
        "0.05",
        _rate,
        "decimal in [0, 1)",
        "Grid fee the buyer pays on each trade, credited to the grid operator",
    ),
    Option(
        "ORDER_TTL_HOURS",
        "24",
        _non_negative_int,
        "integer >= 0",
        "Default order lifetime in hours; 0 means orders do not expire",
    ),
    Option(
        "GRID_OPERATOR_ADDRESS",
        "grid-operator",
        _address,
        "1-100 characters",
        "Prosumer address that receives grid fees (created on first use)",
    ),
    Option(
        "BCRYPT_ROUNDS", "12", _bcrypt_rounds, "integer 4-31", "bcrypt cost for new password hashes"
    ),
    Option(
        "GRID_IMPORT_PRICE",
        "0.2500",
        _price,
        "decimal >= 0, 4 places",
        "Utility tariff in WATT per kWh, for 'savings vs grid' figures",
    ),
    Option(
        "LOGIN_MAX_FAILURES",
        "5",
        _positive_int,
        "integer >= 1",
        "Failed logins in a row before an account is locked",
    ),
    Option(
        "LOGIN_LOCKOUT_MINUTES",
        "15",
        _positive_int,
        "integer >= 1",
        "How long a locked account stays locked",
    ),
    Option(
        "SESSION_IDLE_MINUTES",
        "15",
        _positive_int,
        "integer >= 1",
        "Idle time after which a session (and the TUI) locks",
    ),
    Option(
        "SESSION_MAX_HOURS",
        "12",
        _positive_int,
        "integer >= 1",
        "Absolute lifetime of a login session",
    ),
)
_BY_NAME = {option.name: option for option in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str
    db_pool_size: int
    db_timeout_seconds: int
    grid_fee_rate: Decimal
    order_ttl_hours: int
    grid_operator_address: str
    bcrypt_rounds: int
    grid_import_price: Decimal
    login_max_failures: int
    login_lockout_minutes: int
    session_idle_minutes: int
    session_max_hours: int
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite://{locations.default_database_file()}"


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines, `export ` and quotes allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = value
    return values


def read_config_file(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return {
        str(key).upper(): str(value)
        for key, value in data.items()
        if not isinstance(value, dict | list)
    }


def _layers(cwd: Path, environ: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
    layers: list[tuple[str, Mapping[str, str]]] = [("environment", environ)]
    dotenv = cwd / ".env"
    if dotenv.is_file():
        layers.append((str(dotenv), read_dotenv(dotenv)))
    config = locations.config_file()
    if config.is_file():
        layers.append((str(config), read_config_file(config)))
    return layers


def load_settings(
    db: str | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting; a malformed value raises ConfigError naming its source."""
    layers = _layers(cwd or Path.cwd(), os.environ if environ is None else environ)
    if db is not None:
        layers.insert(0, ("--db", {"DATABASE_URL": db}))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        source, raw = next(
            ((name, layer[option.name]) for name, layer in layers if option.name in layer),
            ("default", option.default),
        )
        try:
            values[option.name.lower()] = option.parse(raw.strip())
        except (ValueError, InvalidOperation):
            raise ConfigError(
                f"{option.name}={raw!r} (from {source}) is not valid: expected {option.accepts}"
            ) from None
        sources[option.name] = source
    return Settings(**values, sources=sources)


def option(name: str) -> Option:
    return _BY_NAME[name]
