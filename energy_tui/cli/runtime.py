"""Turning parsed arguments into a connected database and settings, for every command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator

import peewee

from energy_tui.config import Settings, load_settings
from energy_tui.db import migrations
from energy_tui.db.connect import DatabaseURL, check_reachable, open_database, parse_url
from energy_tui.db.models import db
from energy_tui.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Runtime:
    settings: Settings
    url: DatabaseURL
    database: peewee.Database


def bind(settings: Settings) -> Runtime:
    """Point the models at the configured database and check that it answers."""
    url = parse_url(settings.effective_database_url)
    database = open_database(url, settings.db_pool_size, settings.db_timeout_seconds)
    db.initialize(database)
    check_reachable(database, url)
    return Runtime(settings, url, database)


@contextlib.contextmanager
def connected(args: argparse.Namespace, *, migrate: bool = True) -> Iterator[Runtime]:
    """Settings + database for one command. SQLite files are brought up to date on first
    use; a PostgreSQL/MySQL schema that is behind must be migrated explicitly."""
    runtime = bind(load_settings(getattr(args, "db", None)))
    try:
        with runtime.database.connection_context():
            if migrate:
                _ensure_schema(runtime)
            yield runtime
    finally:
        close_all = getattr(runtime.database, "close_all", None)
        if close_all is not None:  # a pool: do not leave idle server connections behind
            close_all()


def _ensure_schema(runtime: Runtime) -> None:
    state = migrations.status(runtime.database)
    if not state.pending:
        return
    if runtime.url.backend == "sqlite":
        migrations.migrate(runtime.database)
        return
    raise ConfigError(
        f"the database schema is at version {state.current} and "
        f"{len(state.pending)} migration step(s) are pending: "
        f"run `energy-tui db migrate --db {runtime.url}` first"
    )
