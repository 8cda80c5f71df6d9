"""Running service calls for the TUI: always in a worker thread, one connection each.

`call` opens the thread's connection for the duration of one service call (pooled on
PostgreSQL/MySQL) and turns a lost server into `DatabaseUnavailable`, so the app can
show its banner and keep retrying instead of failing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import peewee

from energy_tui.cli.runtime import bound, ensure_schema
from energy_tui.config import Settings
from energy_tui.db.connect import unreachable_message
from energy_tui.db.models import db
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import DatabaseUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


class Bridge:
    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    def open(self, settings: Settings) -> None:
        """Point the models at the database and bring a SQLite file's schema up to date
        (ConfigError for a server schema that is behind)."""
        runtime = bound(settings)  # DatabaseUnavailable when it does not answer
        self.call(ensure_schema, runtime)

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("database calls must run in a worker thread, not the UI thread")
        try:
            with db.connection_context():
                return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            log.warning("database unavailable: %s", exc)
            _discard_connection()
            raise DatabaseUnavailable(unreachable_message(self.url, exc)) from exc
        except DatabaseUnavailable as exc:  # already worded by the database layer
            log.warning("database unavailable: %s", exc)
            _discard_connection()
            raise


def _discard_connection() -> None:
    """Drop this thread's (possibly broken) connection so the next call opens a new one."""
    try:
        if not db.is_closed():
            db.close()
    except peewee.PeeweeException:
        log.debug("closing a broken connection failed", exc_info=True)
