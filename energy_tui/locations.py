"""Where energy-tui keeps its files, backed by platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

_APP = "energy-tui"


def _dirs() -> PlatformDirs:
    return PlatformDirs(_APP, appauthor=False)


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)


def config_dir() -> Path:
    return Path(_dirs().user_config_dir)


def log_dir() -> Path:
    return Path(_dirs().user_log_dir)


def documents_dir() -> Path:
    """The user's documents folder (where exports go by default); may not exist."""
    return Path(_dirs().user_documents_dir)


def config_file() -> Path:
    return config_dir() / "config.toml"


def log_file() -> Path:
    return log_dir() / "energy-tui.log"


def default_database_file() -> Path:
    return data_dir() / "energy_trading.db"


def demo_database_file() -> Path:
    """The demo's own SQLite file (`energy-tui demo`), never the configured database."""
    return data_dir() / "demo.db"


SQLITE_SIDECARS = ("", "-wal", "-shm", "-journal")


def own_files(database: Path | None = None) -> list[Path]:
    """The files energy-tui lives on, which nothing it writes for a user may replace:
    the database in use (`database`), the default and demo databases with their SQLite
    sidecars, the config file and the log file."""
    bases = [default_database_file(), demo_database_file()]
    if database is not None:
        bases.append(database)
    sqlite = [Path(f"{base}{suffix}") for base in bases for suffix in SQLITE_SIDECARS]
    return [*sqlite, config_file(), log_file()]


def private_dir(path: Path) -> Path:
    """Create one of *our own* folders (and parents) if needed, owner-only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create an empty owner-only (0600) file in an existing folder, if it is missing."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    return path
