"""Waiting for the market to change, on PostgreSQL without polling (LISTEN/NOTIFY).

Migration 0012 makes PostgreSQL send a notification on `CHANNEL` in every transaction
that moves `market_state.version` (delivered when it commits). A `ChangeListener`
holds a connection of its own that LISTENs, and `wait_for_change(timeout)` returns as
soon as one arrives. It never raises for a lost server: it answers False (as after a
quiet `timeout`) and connects again on a later call, so a caller keeps its ordinary
poll as the fallback and uses the listener only to look sooner. SQLite and MySQL have
no NOTIFY: `ChangeListener.of` gives None there, and on PostgreSQL through psycopg2
(the listener is written for psycopg 3's `notifies`).

Front ends (the app's live screens, the coming HTTP API's streams) use it the same way:

    listener = ChangeListener.of(database)
    while running:
        if listener is None or listener.wait_for_change(1.0) ... read the version
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import peewee

from energy_tui.db import drivers
from energy_tui.db.connect import backend_of

CHANNEL = "energy_tui_market"
RECONNECT_SECONDS = 2.0  # between attempts while the server is unreachable
log = logging.getLogger(__name__)


class ChangeListener:
    """A LISTENing connection to a PostgreSQL database (made lazily, remade after a loss)."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect  # () -> a psycopg connection, autocommit
        self._connection: Any = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._next_try = 0.0
        self._waiting = False  # a thread is inside `notifies` on the connection
        self.notifications = 0  # received so far (for tests and benchmarks)

    @classmethod
    def of(cls, database: peewee.Database) -> ChangeListener | None:
        """A listener on `database`'s server and database; None unless PostgreSQL."""
        if isinstance(database, peewee.DatabaseProxy):
            database = database.obj
        if database is None or backend_of(database) != "postgres":
            return None
        if drivers.postgres_driver() != "psycopg":
            return None  # psycopg2 (the `postgres2` extra): the callers' poll alone
        params = dict(database.connect_params)
        name = database.database

        def connect() -> Any:
            import psycopg

            return psycopg.connect(dbname=name, autocommit=True, **params)

        return cls(connect)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.closed

    def wait_for_change(self, timeout: float) -> bool:
        """True as soon as the market changed (within `timeout` seconds), else False:
        nothing changed, the listener is closed, or the server was lost (it reconnects
        on a later call; notifications sent while it was away are not replayed, so a
        caller also reads the version when this returns False).

        One thread waits at a time (the connection is not shared)."""
        if self._closed.is_set():
            return False
        connection = self._listening()
        if connection is None:
            self._closed.wait(timeout)
            return False
        try:
            got = any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
            if got:  # a burst is read at once: one refresh covers it
                self.notifications += 1 + sum(1 for _ in connection.notifies(timeout=0.001))
        except Exception as exc:  # the server or the connection went away
            if not self._closed.is_set():
                log.warning("market change listener lost its connection: %s", exc)
            self._next_try = time.monotonic() + RECONNECT_SECONDS
            got = False
            self._drop()
        finally:
            with self._lock:
                self._waiting = False
        if self._closed.is_set():
            self._drop()  # `close` left it to this thread, which was using it
            return False
        return got

    def _listening(self) -> Any:
        with self._lock:
            if self._connection is None or self._connection.closed:
                if time.monotonic() < self._next_try:
                    return None
                try:
                    connection = self._connect()
                    connection.execute(f"LISTEN {CHANNEL}")
                except Exception as exc:
                    log.info("market change listener cannot connect yet: %s", exc)
                    self._next_try = time.monotonic() + RECONNECT_SECONDS
                    return None
                self._connection = connection
            self._waiting = True
            return self._connection

    def backend_pid(self) -> int | None:
        """The server process of the listening connection (None while not connected)."""
        connection = self._connection
        return None if connection is None or connection.closed else connection.info.backend_pid

    def _drop(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the listening connection failed", exc_info=True)

    def close(self) -> None:
        """Stop listening. A `wait_for_change` in progress returns False by its timeout
        and closes the connection then (closing it under a thread reading it is unsafe)."""
        self._closed.set()
        with self._lock:
            if self._waiting:
                return
        self._drop()
