"""Test databases: SQLite always; PostgreSQL and MySQL when their URLs are set.

Each pytest process works in a database of its own on the server
(`energy_tui_test_<pid>`), created at start and dropped at the end, so parallel runs
never see each other's tables; each test starts from empty tables.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import peewee
import pytest

from energy_tui import locations
from energy_tui.db import migrations
from energy_tui.db.connect import open_database
from energy_tui.db.models import MODELS, AuditSecret, MarketState, PriceAlertWatermark, db
from energy_tui.db.urls import DatabaseURL, parse_url

ENV = {"postgres": "ENERGY_TUI_TEST_POSTGRES_URL", "mysql": "ENERGY_TUI_TEST_MYSQL_URL"}
REQUIRE_ENV = "ENERGY_TUI_REQUIRE_BACKENDS"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def server_url(backend: str) -> str | None:
    return os.environ.get(ENV[backend]) or None


def server_url_or_skip(backend: str) -> str:
    """The server URL for `backend`; skip the test without it (fail when CI requires
    every backend)."""
    base = server_url(backend)
    if base is None:
        message = f"{ENV[backend]} is not set"
        if required():
            pytest.fail(f"{message} but {REQUIRE_ENV} asks for every backend")
        pytest.skip(message)
    return base


def url_string(url: DatabaseURL) -> str:
    """A URL string for `url`, password included (tests only; never printed)."""
    if url.backend == "sqlite":
        return f"sqlite://{url.path}"
    scheme = "postgresql" if url.backend == "postgres" else "mysql"
    auth = url.user + (f":{url.password}" if url.password else "")
    return f"{scheme}://{auth}@{url.host}:{url.port}/{url.name}"


def with_name(url: DatabaseURL, name: str) -> DatabaseURL:
    return DatabaseURL(
        url.backend,
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password,
        name=name,
        options=url.options,
    )


def _admin(url: DatabaseURL) -> peewee.Database:
    return open_database(url, pool_size=1, timeout=10)


def create_private_database(base: str, name: str) -> str:
    """Create database `name` next to the one `base` names; return its URL."""
    url = parse_url(base)
    admin = _admin(url)
    with admin.connection_context():
        if url.backend == "postgres":
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute_sql(f'CREATE DATABASE "{name}"')
        else:
            admin.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
            admin.execute_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.close_all()
    return url_string(with_name(url, name))


def drop_private_database(base: str, name: str) -> None:
    url = parse_url(base)
    admin = _admin(url)
    with admin.connection_context():
        quote = '"' if url.backend == "postgres" else "`"
        force = " WITH (FORCE)" if url.backend == "postgres" else ""
        admin.execute_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
    admin.close_all()


def empty_tables(database: peewee.Database, backend: str) -> None:
    """Every table as TRUNCATE ... RESTART IDENTITY leaves it (empty, fresh statistics
    for the planner, id counters at 1), truncating only the tables the last test
    touched: TRUNCATE makes new table files, 0.2-0.3 s a test for all of them on
    PostgreSQL and on MySQL; the others are still as their last TRUNCATE left them.
    (DELETE instead changed PostgreSQL's plans: an EXPLAIN test failed.)"""
    # the HTTP API's idempotency records (migration 0013), after users, and its rate
    # limits (migration 0015)
    tables = [*(model._meta.table_name for model in MODELS), "api_client_orders", "api_rate_limits"]
    if backend == "postgres":
        # A truncated table has an empty file; any insert, even one rolled back, grows it.
        touched = [
            row[0]
            for row in database.execute_sql(
                " UNION ALL ".join(
                    f"SELECT '{table}' WHERE pg_relation_size('\"{table}\"') > 0"
                    for table in tables
                )
            )
        ]
        if touched:
            database.execute_sql(f"TRUNCATE {', '.join(touched)} RESTART IDENTITY CASCADE")
    elif backend == "mysql":
        # Touched: rows left, or an AUTO_INCREMENT moved on (also by an insert rolled back)
        counters = dict(
            database.execute_sql(
                "SELECT table_name, auto_increment FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            ).fetchall()
        )
        filled = {
            row[0]
            for row in database.execute_sql(
                " UNION ALL ".join(
                    f"SELECT '{table}' FROM DUAL WHERE EXISTS (SELECT 1 FROM `{table}`)"
                    for table in tables
                )
            )
        }
        database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in tables:
            if table in filled or (counters.get(table) or 1) > 1:
                database.execute_sql(f"TRUNCATE TABLE `{table}`")
        database.execute_sql("SET FOREIGN_KEY_CHECKS=1")
    else:
        for table in reversed(tables):
            database.execute_sql(f'DELETE FROM "{table}"')
    # As a fresh migration leaves it: the market's one state row (migration 0002), no
    # audit secret yet (migration 0006; made on first need).
    MarketState.insert(id=1).execute()
    AuditSecret.delete().execute()
    # the alerts' watermark (migration 0009): nothing checked yet
    PriceAlertWatermark.delete().execute()
    PriceAlertWatermark.insert(id=1, checked_seq=0).execute()


_template: Path | None = None


def migrated_sqlite_file(path: Path) -> Path:
    """Make `path` (no file yet) a freshly migrated SQLite file, owner-only as the app
    makes it: a copy of one this process migrated once (migrating takes ~0.1 s, a copy
    ~0.01 s). The migrations store no clock, random or settings value but
    `schema_version.applied_at` and `market_state.updated_at`, which nothing reads."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="energy-tui-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        database = open_database(parse_url(f"sqlite://{folder / 'migrated.db'}"), timeout=10)
        bound = db.obj
        db.initialize(database)  # the migrations write through the models' proxy
        try:
            with database.connection_context():
                migrations.migrate(database)
        finally:
            db.initialize(bound)
        database.close()  # the last connection: its WAL is checkpointed into the file
        _template = folder / "migrated.db"
    shutil.copyfile(_template, locations.private_file(path))
    return path


def bind(url: str) -> peewee.Database:
    database = open_database(parse_url(url), pool_size=4, timeout=10)
    db.initialize(database)
    return database
