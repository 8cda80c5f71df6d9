"""Settings, resolved from: --db flag > environment > ./.env > config file > defaults.

Every setting has one name (the environment variable's); the config file
(`config.toml` in the user config dir) takes the same names in lower or upper case.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from energy_tui import locations
from energy_tui.errors import ConfigError, ValidationError
from energy_tui.services import validation

MAX_TTL_HOURS = 87600  # ten years


def _whole(minimum: int, maximum: int) -> Callable[[str], int]:
    """ASCII digits in a range: a sane maximum keeps `now + timedelta(...)` and the
    driver's arguments in range (ORDER_TTL_HOURS=99999999999 broke every order)."""

    def parse(text: str) -> int:
        try:
            return validation.whole_number(text, "", minimum=minimum, maximum=maximum)
        except ValidationError:
            raise ValueError from None

    return parse


def _plain_decimal(text: str) -> Decimal:
    """Decimal() also takes '0_05' and non-ASCII digits; a setting takes neither."""
    if not text.isascii() or "_" in text:
        raise ValueError
    return Decimal(text)


def _places(value: Decimal, places: int) -> Decimal:
    """`value` if finite with at most `places` decimals (stored exactly in the database)."""
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError
    return value


def _rate(text: str) -> Decimal:
    value = _places(_plain_decimal(text), 4)
    if not 0 <= value < 1:
        raise ValueError
    return value


def _percent(text: str) -> Decimal:
    value = _places(_plain_decimal(text), 2)
    if not 0 < value <= Decimal("99999.99"):
        raise ValueError
    return value


def _min_value(text: str) -> Decimal:
    value = _places(_plain_decimal(text), 2)
    if not Decimal("0.01") <= value <= Decimal("9999999999999.99"):
        raise ValueError
    return value


def _price(text: str) -> Decimal:
    value = _places(_plain_decimal(text), 4)
    if not 0 <= value <= Decimal("999999.9999"):
        raise ValueError
    return value


def _address(text: str) -> str:
    """Checked as a prosumer's address is: the grid operator becomes one."""
    try:
        return validation.address(text)
    except ValidationError:
        raise ValueError from None


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
        _whole(1, 1000),
        "integer 1-1000",
        "Connections kept per process (PostgreSQL, MySQL)",
    ),
    Option(
        "DB_TIMEOUT_SECONDS",
        "30",
        _whole(1, 3600),
        "integer 1-3600",
        "Connect timeout, how long to wait for a lock (the market's included) or a pooled "
        "connection, and on MySQL for a silent server",
    ),
    Option(
        "GRID_FEE_RATE",
        "0.05",
        _rate,
        "decimal in [0, 1), 4 places",
        "Market rule (seeds a new database): grid fee rate the buyer pays on each trade,"
        " rounded up to the cent, credited to the grid operator",
    ),
    Option(
        "ORDER_TTL_HOURS",
        "24",
        _whole(0, MAX_TTL_HOURS),
        f"integer 0-{MAX_TTL_HOURS} (ten years)",
        "Market rule (seeds a new database): default order lifetime in hours;"
        " 0 means orders do not expire",
    ),
    Option(
        "GRID_OPERATOR_ADDRESS",
        "grid-operator",
        _address,
        "1-100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
        "Market rule (seeds a new database): prosumer address that receives grid fees"
        " (created on first use)",
    ),
    Option(
        "MIN_ORDER_VALUE",
        "0.01",
        _min_value,
        "decimal >= 0.01, 2 places",
        "Market rule (seeds a new database): smallest order value in WATT at its limit",
    ),
    Option(
        "PRICE_BAND_PERCENT",
        "20",
        _percent,
        "decimal > 0, 2 places",
        "Market rule (seeds a new database): fat-finger guard, how far in percent a"
        " limit price may stray from the market price",
    ),
    Option(
        "BCRYPT_ROUNDS", "12", _whole(4, 31), "integer 4-31", "bcrypt cost for new password hashes"
    ),
    Option(
        "GRID_IMPORT_PRICE",
        "0.2500",
        _price,
        "decimal >= 0, 4 places",
        "Market rule (seeds a new database): utility tariff in WATT per kWh,"
        " for 'savings vs grid' figures",
    ),
    Option(
        "LOGIN_MAX_FAILURES",
        "5",
        _whole(1, 1000),
        "integer 1-1000",
        "Failed logins in a row before an account is locked",
    ),
    Option(
        "LOGIN_LOCKOUT_MINUTES",
        "15",
        _whole(1, 10080),
        "integer 1-10080 (a week)",
        "How long a locked account stays locked",
    ),
    Option(
        "SESSION_IDLE_MINUTES",
        "15",
        _whole(1, 1440),
        "integer 1-1440 (a day)",
        "Idle time after which a session (and the TUI) locks",
    ),
    Option(
        "SESSION_MAX_HOURS",
        "12",
        _whole(1, 720),
        "integer 1-720 (30 days)",
        "Absolute lifetime of a login session",
    ),
)


def _host(text: str) -> str:
    """A host name or address to listen on: one word of printable ASCII."""
    if not text or not text.isascii() or any(char.isspace() for char in text) or len(text) > 255:
        raise ValueError
    return text


def _secret(text: str) -> str:
    return text  # any text; too short only turns password login off (`energy-tui api`)


OPTIONS += (
    Option("API_HOST", "127.0.0.1", _host, "a host name or IP address", "HTTP API: listen address"),
    Option("API_PORT", "3000", _whole(1, 65535), "integer 1-65535", "HTTP API: listen port"),
    Option(
        "JWT_SECRET",
        "",
        _secret,
        "text of at least 32 bytes (shorter or empty: password login off)",
        "HTTP API: key that signs login tokens; never printed",
    ),
    Option(
        "API_MAX_BODY_BYTES",
        "65536",
        _whole(1024, 16_777_216),
        "integer 1024-16777216",
        "HTTP API: largest request body accepted",
    ),
    Option(
        "API_RATE_PER_KEY",
        "600",
        _whole(0, 1_000_000),
        "integer 0-1000000 (0: no limit)",
        "HTTP API: requests per minute per API key or login token (shared by every worker "
        "and host on the database)",
    ),
    Option(
        "API_RATE_PER_ADDRESS",
        "1200",
        _whole(0, 1_000_000),
        "integer 0-1000000 (0: no limit)",
        "HTTP API: requests per minute per client address (shared by every worker and host "
        "on the database)",
    ),
)
# Settings whose values are never shown (a listing says only whether they are set).
SECRET_SETTINGS = frozenset({"JWT_SECRET"})
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
    min_order_value: Decimal = Decimal("0.01")
    price_band_percent: Decimal = Decimal("20")
    api_host: str = "127.0.0.1"
    api_port: int = 3000
    jwt_secret: str = dataclasses.field(default="", repr=False)
    api_max_body_bytes: int = 65536
    api_rate_per_key: int = 600
    api_rate_per_address: int = 1200
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite://{locations.default_database_file()}"


def read_text(path: Path) -> str:
    """A settings file as text: UTF-8, with or without a byte-order mark (editors on
    Windows add one); anything else is refused naming the file and the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 text: save the file as UTF-8") from None


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines, `export ` and quotes allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(read_text(path).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()[:40]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = value
    return values


def read_config_file(path: Path) -> dict[str, str]:
    """The settings of config.toml: top-level keys named as the settings (any case), each
    with one value. Anything else is refused, naming the keys that are not understood:
    a misspelt or nested setting would otherwise be ignored without a word."""
    import tomllib  # only with a config file: the parser costs every command ~3 ms

    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = [_shown_key(key, value) for key, value in data.items() if not _known(key, value)]
    if unknown:
        known = ", ".join(option.name.lower() for option in OPTIONS)
        raise ConfigError(
            f"{path}: keys not understood: {', '.join(unknown)}; "
            f"settings are top-level keys with one value each: {known}"
        )
    values: dict[str, str] = {}
    for key, value in data.items():
        if key.upper() in values:
            raise ConfigError(f"{path}: {key.upper()} is set twice (keys ignore case)")
        values[key.upper()] = str(value)
    return values


def _known(key: str, value: object) -> bool:
    return key.upper() in _BY_NAME and not isinstance(value, dict | list)


def _shown_key(key: str, value: object) -> str:
    shown = repr(key) if not key.isidentifier() else key
    if isinstance(value, dict):
        return f"[{shown[:40]}] (a table)"
    return f"{shown[:40]} (a list)" if isinstance(value, list) else shown[:40]


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
        check_text(option.name, raw, source)
        try:
            values[option.name.lower()] = option.parse(raw.strip())
        except (ValueError, InvalidOperation):
            raise ConfigError(
                f"{option.name}={raw[:40]!r} (from {source}) is not valid: "
                f"expected {option.accepts}"
            ) from None
        sources[option.name] = source
    return Settings(**values, sources=sources)


def check_text(name: str, raw: str, source: str) -> None:
    """One line of UTF-8 text: a NUL or other control character (from a .env or TOML
    file) or undecodable bytes (from the environment) would fail deep in a driver. The
    value is not shown: it may hold a password."""
    if not validation.is_utf8(raw):
        raise ConfigError(f"{name} (from {source}) is not valid UTF-8 text")
    bad = next((char for char in raw if unicodedata.category(char) == "Cc"), None)
    if bad is not None:
        raise ConfigError(
            f"{name} (from {source}) contains a control character (U+{ord(bad):04X}): "
            "a setting is one line of text"
        )


def option(name: str) -> Option:
    return _BY_NAME[name]


def default_settings() -> Settings:
    """Every setting at its default (no environment, .env or config file read)."""
    return Settings(**{o.name.lower(): o.parse(o.default) for o in OPTIONS})
