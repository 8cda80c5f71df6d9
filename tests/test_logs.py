"""The log file: when it cannot be written, one line on stderr and the command goes on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from energy_tui import locations, logs


@pytest.fixture(autouse=True)
def fresh_log_handler():
    """Each test sets up its own log file and leaves none attached behind it."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_energy_tui", False)]:
        root.removeHandler(handler)
        handler.close()


def full_disk_log() -> Path:
    """The log file on a device that is always full (writes fail with ENOSPC)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    folder = locations.log_dir()
    folder.mkdir(parents=True)
    locations.log_file().symlink_to("/dev/full")
    return locations.log_file()


def test_full_disk_is_reported_in_one_line_and_the_command_goes_on(cli):
    path = full_disk_log()
    result = cli("--db", "sqlite:x.db", "prosumer", "show", "nobody")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"energy-tui: cannot write the log file {path} (No space left on device); "
        "this run is not logged",
        "energy-tui: no prosumer with address 'nobody'",
    ]


def test_full_disk_reports_once_however_many_records_fail(capsys):
    full_disk_log()
    logs.setup()
    log = logging.getLogger("energy_tui.test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("first")
    log.info("second")
    log.error("third")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "cannot write the log file" in err


def test_log_folder_that_cannot_be_made_is_reported_in_one_line(cli, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setattr(locations, "log_dir", lambda: blocker / "log")
    result = cli("--db", "sqlite:x.db", "prosumer", "show", "nobody")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"energy-tui: cannot open the log file {blocker / 'log' / 'energy-tui.log'} "
        "(Not a directory); this run is not logged",
        "energy-tui: no prosumer with address 'nobody'",
    ]
