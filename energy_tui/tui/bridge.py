"""Running service calls for the TUI: always in a worker thread, one connection each.

`call` opens the thread's connection for the duration of one service call (pooled on
PostgreSQL/MySQL; on SQLite an idle connection to the same file is taken again rather
than opened anew: `db.connect._SqliteDatabase.keep_connections`) and turns a lost
server into `DatabaseUnavailable`, so the app can show its banner and keep retrying
instead of failing. With a gate (the app's session guard) each call is first let
through by the gate on that same connection: a call the gate refuses raises there and
never runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import peewee

from energy_tui.config import Settings
from energy_tui.db import failures
from energy_tui.db.connect import unreachable_message
from energy_tui.db.models import db
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import DatabaseUnavailable
from energy_tui.runtime import bound, ensure_schema, rules_notice
from energy_tui.services.context import Actor

T = TypeVar("T")
log = logging.getLogger(__name__)


class Gate(Protocol):
    def __call__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        actor: Actor | None,
    ) -> None:
        """Return to let `fn(*args, **kwargs)` run (prepared for `actor`, when given);
        raise to refuse it."""


class Bridge:
    def __init__(self, url: DatabaseURL, gate: Gate | None = None) -> None:
        self.url = url
        self.timeout = 0  # DB_TIMEOUT_SECONDS, for the busy message; set by `open`
        self.gate = gate

    def open(self, settings: Settings) -> None:
        """Point the models at the database and bring a SQLite file's schema up to date
        (ConfigError for a server schema that is behind)."""
        self.timeout = settings.db_timeout_seconds
        runtime = bound(settings)  # DatabaseUnavailable when it does not answer
        keep = getattr(db.obj, "keep_connections", None)  # SQLite
        if keep is not None:
            keep()
        self.call(rules_notice, runtime)  # logged: the database's rules win
        self.call(ensure_schema, runtime)

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return self._run(None, fn, args, kwargs)

    def call_as(self, actor: Actor | None, fn: Callable[..., T], *args: object) -> T:
        """`call`, for a call prepared earlier for `actor` (a form opened as them, with
        the actor inside its submit function): refused if they are no longer that."""
        return self._run(actor, fn, args, {})

    def _run(
        self,
        actor: Actor | None,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("database calls must run in a worker thread, not the UI thread")
        try:
            with db.connection_context():
                if self.gate is not None:
                    self.gate(fn, args, kwargs, actor)
                return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            if failures.is_lock_timeout(exc):  # another writer held a lock: not a lost server
                raise failures.busy(self.timeout) from exc
            log.warning("database unavailable: %s", exc)
            _discard_connection()
            raise DatabaseUnavailable(unreachable_message(self.url, exc)) from exc
        except DatabaseUnavailable as exc:  # already worded by the database layer
            log.warning("database unavailable: %s", exc)
            _discard_connection()
            raise

    def close(self) -> None:
        """The app exits: close the idle connections kept (SQLite)."""
        close_kept = getattr(db.obj, "close_kept", None)
        if close_kept is not None:
            close_kept()


def _discard_connection() -> None:
    """Drop this thread's (possibly broken) connection, and the idle ones kept, so the
    next call opens a new one."""
    try:
        if not db.is_closed():
            db.close()
    except peewee.PeeweeException:
        log.debug("closing a broken connection failed", exc_info=True)
    close_kept = getattr(db.obj, "close_kept", None)
    if close_kept is not None:
        close_kept(stop=False)
