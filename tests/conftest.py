"""Fixtures shared by every test: isolation from the developer's machine, backends, CLI."""

from __future__ import annotations

import dataclasses
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from energy_tui import locations
from energy_tui.config import OPTIONS
from energy_tui.db import migrations
from energy_tui.db.models import db
from tests import backends

BACKENDS = ("sqlite", "postgres", "mysql")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user dirs, settings or working directory."""
    home = tmp_path / "home"
    monkeypatch.setattr(locations, "data_dir", lambda: home / "data")
    monkeypatch.setattr(locations, "config_dir", lambda: home / "config")
    monkeypatch.setattr(locations, "log_dir", lambda: home / "log")
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    for name in ("SSH_CLIENT", "ENERGY_TUI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BCRYPT_ROUNDS", "4")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@dataclasses.dataclass
class Backend:
    name: str
    url: str
    database: peewee.Database


_servers: dict[str, tuple[str, peewee.Database]] = {}


def _server(name: str, request: pytest.FixtureRequest) -> tuple[str, peewee.Database]:
    """The migrated private database of this pytest process on server `name`."""
    if name not in _servers:
        base = backends.server_url_or_skip(name)
        private = f"energy_tui_test_{os.getpid()}"
        url = backends.create_private_database(base, private)
        request.session.config.add_cleanup(lambda: backends.drop_private_database(base, private))
        database = backends.bind(url)
        with database.connection_context():
            migrations.migrate(database)
        _servers[name] = (url, database)
    return _servers[name]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A migrated, empty database on each backend, bound to the models' proxy."""
    if request.param == "sqlite":
        url = f"sqlite://{backends.migrated_sqlite_file(tmp_path / 'test.db')}"
        database = backends.bind(url)
        with database.connection_context():
            migrations.migrate(database)
    else:
        url, database = _server(request.param, request)
        db.initialize(database)
        with database.connection_context():
            backends.empty_tables(database, request.param)
    with database.connection_context():
        yield Backend(request.param, url, database)
    if request.param == "sqlite":
        database.close()


@dataclasses.dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch):
    """`clock.now` frozen at tests.clock_support.START; the test moves it with `advance`."""
    from tests.clock_support import freeze

    return freeze(monkeypatch)


@pytest.fixture
def database(tmp_path: Path):
    """The TUI identity tests' SQLite file: two prosumers, one user of each role
    (test_tui_stats and test_tui_trades seed a market instead, under the same name)."""
    from tests.tui_identity_support import seeded_database

    return seeded_database(tmp_path)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run the real `energy-tui` entry point in-process: cli("user", "list", stdin=...)."""
    from energy_tui.cli import main

    def run(*args: str, stdin: str | None = None) -> CliResult:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        bound = db.obj
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        finally:
            if bound is not None:
                db.initialize(bound)  # the CLI bound its own database object
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
