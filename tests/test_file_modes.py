"""The files energy-tui writes for its user are theirs alone: 0600, in 0700 folders."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from energy_tui import locations, logs
from energy_tui.tui import settings_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """The usual umask, under which a plain open() makes 0644 files."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def log_handler() -> Iterator[logging.Handler]:
    logs.setup()
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_energy_tui", False)]
    yield handler
    logging.getLogger().removeHandler(handler)
    handler.close()


def test_every_log_file_stays_owner_only_across_rotations(log_handler):
    log_handler.maxBytes = 300
    for number in range(60):
        logging.getLogger("energy_tui.test").warning("line %d of the log", number)
    files = sorted(locations.log_dir().glob("energy-tui.log*"))
    assert [p.name for p in files] == [f"energy-tui.log{s}" for s in ("", ".1", ".2", ".3")]
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(locations.log_dir()) == 0o700


def test_a_log_file_left_readable_by_others_is_made_owner_only(log_handler):
    log_handler.close()
    locations.log_file().chmod(0o644)
    log_handler.emit(logging.makeLogRecord({"msg": "reopened"}))  # a closed handler reopens
    assert mode(locations.log_file()) == 0o600


def test_the_theme_store_writes_an_owner_only_config_file_in_an_owner_only_folder():
    settings_store.save_theme("nord")
    assert settings_store.saved_theme() == "nord"
    assert mode(locations.config_file()) == 0o600
    assert mode(locations.config_dir()) == 0o700


def test_the_theme_store_makes_an_existing_config_file_owner_only():
    locations.config_dir().mkdir(parents=True)
    locations.config_file().write_text('database_url = "sqlite:x.db"\n', encoding="utf-8")
    locations.config_file().chmod(0o644)
    settings_store.save_theme("nord")
    assert mode(locations.config_file()) == 0o600
    assert 'database_url = "sqlite:x.db"' in locations.config_file().read_text(encoding="utf-8")
