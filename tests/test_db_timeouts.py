"""DB_TIMEOUT_SECONDS bounds every wait: a held market lock (on every backend) and a
server that accepts the connection but never answers (PostgreSQL, MySQL)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import peewee
import pytest

from energy_tui.db.connect import open_database
from energy_tui.db.models import db
from energy_tui.db.urls import parse_url
from energy_tui.errors import DatabaseBusy, MarketBusy
from energy_tui.services import prosumers
from tests.key_support import key_file
from tests.market_support import OPERATOR, key_for, place, snapshot, trader

SECONDS = 1


@contextlib.contextmanager
def market_held(backend) -> Iterator[None]:
    """Another connection holds the market lock (SQLite: the write lock) until the end."""
    holder = open_database(parse_url(backend.url), pool_size=1, timeout=10)
    with holder.connection_context():
        holder.begin()
        if backend.name != "sqlite":
            holder.execute_sql("SELECT version FROM market_state WHERE id = 1 FOR UPDATE")
        try:
            yield
        finally:
            holder.rollback()
    close_all = getattr(holder, "close_all", None)
    if close_all is not None:
        close_all()


@contextlib.contextmanager
def timeout_of(backend, seconds: int) -> Iterator[None]:
    """The models bound to the test database opened with DB_TIMEOUT_SECONDS=`seconds`."""
    timed = open_database(parse_url(backend.url), pool_size=2, timeout=seconds)
    db.initialize(timed)
    try:
        with timed.connection_context():
            yield
    finally:
        db.initialize(backend.database)
        close_all = getattr(timed, "close_all", None)
        if close_all is not None:
            close_all()


def test_order_behind_a_held_market_lock_says_busy_within_the_timeout(backend):
    alice = trader("alice", watt="100")
    before = snapshot()
    with timeout_of(backend, SECONDS), market_held(backend):
        started = time.monotonic()
        with pytest.raises(MarketBusy) as caught:
            place(alice, "buy", "1", "1")
        waited = time.monotonic() - started
    assert str(caught.value) == (
        "the market is busy: another order held it for more than 1 s, try again"
    )
    assert SECONDS - 0.1 <= waited < SECONDS + 2.5
    assert snapshot() == before  # nothing written, nothing held


def test_order_goes_through_once_the_lock_is_released(backend):
    alice = trader("alice", watt="100")
    with timeout_of(backend, SECONDS):
        with market_held(backend), pytest.raises(MarketBusy):
            place(alice, "buy", "1", "1")
        assert place(alice, "buy", "1", "1").order.status == "open"


def test_a_deposit_waiting_behind_a_held_row_says_the_database_is_busy(backend):
    trader("alice")
    before = snapshot()
    holder = open_database(parse_url(backend.url), pool_size=1, timeout=10)
    with timeout_of(backend, SECONDS), holder.connection_context():
        holder.begin()
        if backend.name != "sqlite":
            holder.execute_sql("SELECT * FROM prosumers WHERE address = 'alice' FOR UPDATE")
        try:
            with pytest.raises(DatabaseBusy) as caught:
                prosumers.deposit(OPERATOR, "alice", "5")
        finally:
            holder.rollback()
    assert not isinstance(caught.value, MarketBusy)
    assert "the database is busy: another change held it for more than 1 s" in str(caught.value)
    assert snapshot() == before


def test_cli_order_place_behind_a_held_market_lock_exits_75_with_one_line(
    backend, cli, monkeypatch
):
    trader("alice", watt="100")
    key = key_for("alice")
    monkeypatch.setenv("DB_TIMEOUT_SECONDS", str(SECONDS))
    before = snapshot()
    with market_held(backend):
        result = cli(
            "order", "place", "buy", "1", "1", "--db", backend.url, *key_file(key), "--yes"
        )
    assert result.code == 75, result.err
    assert result.err == (
        "energy-tui: the market is busy: another order held it for more than 1 s, try again\n"
    )
    after = snapshot()
    assert (after.orders, after.trades, after.balances) == (
        before.orders,
        before.trades,
        before.balances,
    )


def test_postgresql_and_mysql_sessions_wait_for_locks_at_most_the_setting(backend):
    if backend.name == "sqlite":
        database = open_database(parse_url(backend.url), timeout=3)
        with database.connection_context():
            assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 3000
        return
    database = open_database(parse_url(backend.url), pool_size=1, timeout=3)
    with database.connection_context():
        if backend.name == "postgres":
            assert database.execute_sql("SHOW lock_timeout").fetchone()[0] == "3s"
        else:
            row = database.execute_sql(
                "SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout"
            ).fetchone()
            assert tuple(int(v) for v in row) == (3, 3)
    database.close_all()


def test_a_url_of_its_own_options_keeps_them_beside_the_lock_timeout():
    url = parse_url("postgresql://u@127.0.0.1:1/d?options=-c%20search_path%3Dmarket")
    database = open_database(url, timeout=4)
    assert database.connect_params["options"] == "-c search_path=market -c lock_timeout=4s"


# --- a server that accepts the connection and then says nothing --------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts connections and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_server_that_never_answers_fails_within_the_timeout_with_exit_1(
    cli, monkeypatch, silent_port, scheme
):
    monkeypatch.setenv("DB_TIMEOUT_SECONDS", str(SECONDS))
    started = time.monotonic()
    result = cli("prosumer", "list", "--db", f"{scheme}://u@127.0.0.1:{silent_port}/energy")
    waited = time.monotonic() - started
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert f"127.0.0.1:{silent_port}" in result.err
    assert "does not answer" in result.err or "timeout expired" in result.err
    assert waited < SECONDS + 4  # MySQL allows 2 s for a lock's own error to arrive first


def test_mysql_connections_time_out_reads_and_writes():
    database = open_database(parse_url("mysql://u@127.0.0.1:1/d"), timeout=5)
    params = database.connect_params
    assert (params["connect_timeout"], params["read_timeout"], params["write_timeout"]) == (
        5,
        7,
        7,
    )
    assert isinstance(database, peewee.MySQLDatabase)
