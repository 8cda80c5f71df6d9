"""Settings -> a bound database: what every front end (CLI, app, HTTP API) needs first.

`bind` points the Peewee models at the configured database and checks that it answers;
`ensure_schema` brings a SQLite file up to date and refuses a server schema that is
behind; `rules_notice` tells about rule settings that the database's rules override.
"""

from __future__ import annotations

import dataclasses
import logging

import peewee

from energy_tui.config import Settings
from energy_tui.db import migrations
from energy_tui.db.connect import check_reachable, open_database
from energy_tui.db.models import db
from energy_tui.db.urls import DatabaseURL, parse_url
from energy_tui.errors import ConfigError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Runtime:
    settings: Settings
    url: DatabaseURL
    database: peewee.Database


_bound: Runtime | None = None  # what `bind` pointed the models at last


def bind(settings: Settings) -> Runtime:
    """Point the models at the configured database and check that it answers."""
    global _bound
    url = parse_url(settings.effective_database_url)
    database = open_database(url, settings.db_pool_size, settings.db_timeout_seconds)
    db.initialize(database)
    check_reachable(database, url)
    _bound = Runtime(settings, url, database)
    return _bound


def bound(settings: Settings) -> Runtime:
    """The models' database for `settings`: the one bound already when it is the same
    (the demo binds it for its bots before the app starts), else a new binding."""
    url = parse_url(settings.effective_database_url)
    if _bound is not None and _bound.url == url and db.obj is _bound.database:
        check_reachable(_bound.database, url)
        return _bound
    return bind(settings)


def rules_notice(runtime: Runtime) -> str | None:
    """A note for rule settings given (environment, .env, config file) while the
    database holds the market's rules already, which win; None otherwise. Ask before
    migrating: the first migration seeds the rules from those very settings."""
    from energy_tui.services.market.rules import ignored_notice  # the market, when used

    notice = ignored_notice(runtime.settings)
    if notice is None:
        return None
    applied = migrations.status(runtime.database).applied
    if not any(step.name == "market_rules" for step in applied):
        return None
    log.info("%s", notice)
    return notice


def ensure_schema(runtime: Runtime) -> None:
    """Migrate a SQLite file that is behind (seeding what is new from the settings);
    refuse a server schema that is behind."""
    state = migrations.status(runtime.database)
    if not state.pending:
        return
    if runtime.url.backend == "sqlite":
        migrations.migrate(runtime.database, runtime.settings)
        return
    raise ConfigError(
        f"the database schema is at version {state.current} and "
        f"{len(state.pending)} migration step(s) are pending: "
        f"run `energy-tui db migrate --db {runtime.url}` first"
    )
