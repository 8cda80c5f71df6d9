"""A SQLite file that cannot be written says why: read-only file, read-only filesystem,
full disk, busy (issue 11). Each case is made real, not mocked:

- read-only file: mode 0400 for an ordinary user; tests run as root, whom file modes do
  not stop, so there the file is made immutable (`chattr +i`), which stops root too;
- read-only filesystem: the folder bind-mounted read-only in a private mount namespace
  (`unshare -m`) of the one command, so nothing outside it sees the mount;
- full disk: `PRAGMA max_page_count` caps the file at its current size, which SQLite
  reports exactly as a full disk (SQLITE_FULL); and a real 1 MiB tmpfs, mounted in a
  private mount namespace, filled up.
Each is skipped, saying why, where the system does not allow it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from energy_tui.db.connect import open_database
from energy_tui.db.failures import sqlite_failure
from energy_tui.db.models import Prosumer, db
from energy_tui.db.urls import parse_url
from energy_tui.errors import DatabaseBusy, DatabaseFull, DatabaseUnavailable
from energy_tui.services import prosumers
from tests.market_support import OPERATOR


def migrated_file(cli, path: Path) -> str:
    url = f"sqlite:///{path}"
    assert cli("prosumer", "add", "house-1", "--name", "House", "--db", url).code == 0
    return url


@pytest.fixture
def read_only_file(cli, tmp_path: Path):
    url = migrated_file(cli, tmp_path / "ro.db")
    path = tmp_path / "ro.db"
    path.chmod(0o400)
    if os.geteuid() != 0:
        yield url
        path.chmod(0o600)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only for root")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here: {made.stderr.decode().strip()}")
    try:
        yield url
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o600)


def test_writing_to_a_read_only_file_says_so_with_its_path_and_exits_2(cli, read_only_file):
    path = parse_url(read_only_file).path
    result = cli("prosumer", "add", "house-2", "--name", "Two", "--db", read_only_file)
    assert result.code == 2
    assert result.err == (
        f"energy-tui: cannot write to SQLite database {path}: the file is read-only; "
        "make it writable (chmod u+w) or use another file\n"
    )
    listed = cli("prosumer", "list", "--db", read_only_file)
    assert (listed.code, "house-2" in listed.out) == (0, False)


def test_a_read_only_filesystem_is_named_as_such(tmp_path: Path, cli):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a folder read-only for one command")
    folder = tmp_path / "mounted"
    folder.mkdir()
    url = migrated_file(cli, folder / "x.db")
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'  # in this namespace only
    command = [sys.executable, "-m", "energy_tui", "prosumer", "add", "h2", "--name", "H"]
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode().strip()}")
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *command, "--db", url],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DB_TIMEOUT_SECONDS": "1"},
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"energy-tui: cannot write to SQLite database {folder / 'x.db'}: it is on a "
        "read-only filesystem; use a file on a writable disk\n"
    )


def test_a_full_disk_says_so_and_writes_nothing(tmp_path: Path, cli):
    url = migrated_file(cli, tmp_path / "full.db")
    database = open_database(parse_url(url), timeout=1)
    db.initialize(database)
    with database.connection_context():
        pages = database.execute_sql("PRAGMA page_count").fetchone()[0]
        database.execute_sql(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(DatabaseFull) as caught:
            for n in range(10_000):  # until a new page is needed
                prosumers.add_prosumer(OPERATOR, f"house-{n + 2}", "x" * 200)
        added = Prosumer.select().count()
        database.execute_sql(f"PRAGMA max_page_count = {pages * 100}")
        prosumers.add_prosumer(OPERATOR, "after", "After")  # the file works again
        assert Prosumer.select().count() == added + 1
    assert str(caught.value) == (
        f"cannot write to SQLite database {tmp_path / 'full.db'}: the disk is full (or the "
        "file reached its size limit); nothing was written: free some space and try again"
    )
    assert caught.value.exit_code == 1


def test_a_file_that_cannot_be_opened_names_its_path():
    import sqlite3

    failure = sqlite_failure(sqlite3.OperationalError("unable to open database file"), "/x/y.db", 5)
    assert isinstance(failure, DatabaseUnavailable)  # the TUI shows its banner and retries
    assert str(failure).startswith("cannot open SQLite database /x/y.db: ")


def test_a_locked_file_is_busy_not_gone(tmp_path: Path, cli):
    import sqlite3

    url = migrated_file(cli, tmp_path / "busy.db")
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        database = open_database(parse_url(url), timeout=1)
        db.initialize(database)
        with database.connection_context(), pytest.raises(DatabaseBusy) as caught:
            prosumers.add_prosumer(OPERATOR, "house-2", "Two")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.exit_code == 75
    assert str(caught.value).startswith("the database is busy: another change held it")


FILL_UNTIL_FULL = """
import sys
from energy_tui.runtime import bind
from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.errors import DatabaseFull
from energy_tui.services import prosumers
from energy_tui.services.context import Actor

runtime = bind(load_settings(db="sqlite://" + sys.argv[1]))
with runtime.database.connection_context():
    migrations.migrate(runtime.database)
    try:
        for n in range(100_000):
            prosumers.add_prosumer(Actor.local_operator(), f"house-{n}", "x" * 200)
    except DatabaseFull as exc:
        print(exc)
"""


def test_a_really_full_filesystem_says_the_disk_is_full(tmp_path: Path):
    """A tmpfs of 1 MiB (the schema alone takes a few hundred KiB), mounted for this one process only, filled with prosumers."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a small filesystem for one process")
    folder = tmp_path / "small"
    folder.mkdir()
    script = 'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    path = folder / "x.db"
    command = [sys.executable, "-c", FILL_UNTIL_FULL, str(path)]
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cannot write to SQLite database {path}: the disk is full")
