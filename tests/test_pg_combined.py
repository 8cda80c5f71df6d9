"""PostgreSQL places the orders of writers that queue meanwhile together (migration 0020).

A batch must answer every writer and leave every row exactly as placing the same orders
one by one does (`energy_tui_place_order`, one call each), refusals in the middle of the
batch included; a writer that died after queuing is not placed behind its back; one
whose wait is cancelled takes its order back; inside a caller's transaction the function
is called directly. Several processes placing at once are combined and keep every
invariant.

The batch is made deterministic by holding the combining key from another session while
the writers queue, one after the other, each on its own connection (a thread each).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import peewee
import pytest

from energy_tui import clock
from energy_tui.db import migrations
from energy_tui.db.connect import open_database
from energy_tui.db.migrations.m0020_place_combined import COMBINING
from energy_tui.db.models import EnergyOrder, db
from energy_tui.db.urls import parse_url
from energy_tui.errors import EnergyError
from energy_tui.services.context import Actor
from energy_tui.services.market import invariants, place_order, server
from energy_tui.services.market.orders import OrderRequest
from tests import backends, combine_worker
from tests.clock_support import START
from tests.market_support import trader
from tests.test_pg_function_differential import (
    _fill,
    _view,
    outcome,
)

WALLETS = {
    "ann": ("5.00", "3.00"),
    "bob": ("40.00", "20.00"),
    "cy": ("0.50", "0.50"),
    "dee": ("9999999999999.95", "5.00"),  # 0.04 WATT below the largest balance stored
}

# (trader, side, amount, price or None, time in force, market order): resting, trading,
# and refused for every reason a placement has, in the middle of the batch
ORDERS: list[tuple[str, str, str, str | None, str, bool]] = [
    ("ann", "buy", "1.25", "0.1000", "gtc", False),  # rests
    ("dee", "sell", "1.00", "0.1000", "gtc", False),  # refused: dee's WATT past the limit
    ("ann", "sell", "1.00", "0.0999", "gtc", False),  # refused: crosses ann's own buy
    ("bob", "sell", "0.99", "0.1000", "gtc", False),  # fills part of ann's buy
    ("cy", "buy", "7.77", "0.1234", "gtc", False),  # refused: not enough WATT
    ("bob", "sell", "5.00", "0.0999", "gtc", False),  # fills ann's rest, rests
    ("cy", "buy", "0.05", "0.0001", "gtc", False),  # refused: below the minimum value
    ("cy", "buy", "1.00", "0.1001", "fok", False),  # fills at bob's 0.0999
    ("ann", "buy", "0.13", None, "ioc", True),  # a market buy at the default cap
    ("cy", "sell", "3.00", "0.2000", "gtc", False),  # refused: not enough energy
    ("bob", "buy", "9.00", "0.3333", "fok", False),  # refused: crosses bob's own sell
    ("ann", "buy", "7.00", "0.0999", "fok", False),  # killed: not that much to fill
    ("cy", "sell", "0.40", "0.0990", "gtc", False),  # rests
]


@pytest.fixture(scope="module")
def two_databases() -> Iterator[tuple[peewee.Database, peewee.Database]]:
    base = backends.server_url_or_skip("postgres")
    names = [f"energy_tui_comb_{os.getpid()}_{side}" for side in ("one", "batch")]
    bound = []
    for name in names:
        url = backends.create_private_database(base, name)
        database = open_database(parse_url(url), pool_size=len(ORDERS) + 4, timeout=10)
        db.initialize(database)
        with database.connection_context():
            migrations.migrate(database)
        bound.append(database)
    yield bound[0], bound[1]
    for database, name in zip(bound, names, strict=True):
        database.close_all()
        backends.drop_private_database(base, name)


class Session(threading.Thread):
    """`work()` run in a thread on a connection of its own (as a writer of another
    process would), keeping its result or the exception it raised for the test."""

    def __init__(self, database: peewee.Database, work: Callable[[], Any]) -> None:
        super().__init__()
        self.database, self.work = database, work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        with self.database.connection_context():
            try:
                self.result = self.work()
            except Exception as exc:  # the test asserts on it
                self.error = exc

    def started(self) -> Session:
        self.start()
        return self

    def finished(self, seconds: float = 30) -> Session:
        self.join(seconds)
        assert not self.is_alive(), "the session did not finish"
        return self


class KeyHolder:
    """A session of its own holding the combining key (and, with `next_too`, the key of
    the next combiner): writers that come meanwhile wait to combine next, or queue."""

    def __init__(self, database: peewee.Database, next_too: bool = False) -> None:
        self.database = database
        self.keys = (0, 1) if next_too else (0,)
        self.held = threading.Event()
        self.release = threading.Event()
        self.session = Session(database, self._hold)

    def __enter__(self) -> KeyHolder:
        self.session.start()
        assert self.held.wait(10)
        return self

    def _hold(self) -> None:
        for key in self.keys:
            self.database.execute_sql("SELECT pg_advisory_lock(%s, %s)", (COMBINING, key))
        self.held.set()
        self.release.wait(30)
        for key in self.keys:
            self.database.execute_sql("SELECT pg_advisory_unlock(%s, %s)", (COMBINING, key))

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self.session.finished().error is None


def _queued(database: peewee.Database) -> int:
    return int(database.execute_sql("SELECT count(*) FROM energy_tui_place_queue").fetchone()[0])


def _queued_are(database: peewee.Database, count: int) -> bool:
    return _queued(database) == count


def _waiting_for_the_key(database: peewee.Database) -> bool:
    row = database.execute_sql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
        "AND objid = 0 AND NOT granted",
        (COMBINING,),
    ).fetchone()
    return bool(row[0])


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _answer(actor: Actor, order: tuple[str, str, str, str | None, str, bool]) -> Any:
    _, side, amount, price, tif, market = order
    request = OrderRequest(
        side,
        Decimal(amount),
        Decimal(price) if price is not None else None,
        tif,
        None,
        "market" if market else "limit",
    )
    try:
        result = place_order(actor, request)
    except EnergyError as exc:
        return ("refused", type(exc).__name__, str(exc), getattr(exc, "field", None))
    return ("placed", _view(result.order), [_fill(f) for f in result.fills])


def _start(database: peewee.Database) -> dict[str, Actor]:
    backends.empty_tables(database, "postgres")
    return {
        name: trader(name, watt=watt, energy=energy) for name, (watt, energy) in WALLETS.items()
    }


@pytest.fixture
def combining(
    two_databases: tuple[peewee.Database, peewee.Database], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[peewee.Database, dict[str, Actor]]]:
    """The batch database with placements combined, emptied, and the traders' actors."""
    _, database = two_databases
    monkeypatch.setattr(server, "COMBINED", True)
    monkeypatch.setattr(server, "_recent", server._Recent())  # met others lately, or never
    db.initialize(database)
    with database.connection_context():
        yield database, _start(database)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions each placement calls (`server._call`'s statements), in order."""
    calls: list[str] = []
    call = server._call

    def one(params: tuple[Any, ...], sql: str = server._PLACE) -> Any:
        calls.append(sql)
        return call(params, sql)

    monkeypatch.setattr(server, "_call", one)
    return calls


def test_a_batch_answers_and_writes_as_placing_one_by_one(
    two_databases: tuple[peewee.Database, peewee.Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_db, batch_db = two_databases
    monkeypatch.setattr(clock, "now", lambda: START)
    # one by one: one call of the function each
    monkeypatch.setattr(server, "COMBINED", False)
    db.initialize(one_db)
    with one_db.connection_context():
        actors = _start(one_db)
        one_by_one = outcome(one_db, [_answer(actors[o[0]], o) for o in ORDERS])
    # together: every writer queues (another session holds the key), then one batch
    monkeypatch.setattr(server, "COMBINED", True)
    db.initialize(batch_db)
    in_batch: list[int] = []
    combined = server._combined

    def seen(params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows = combined(params)
        in_batch.append(rows[-1][server.IN_BATCH])
        return rows

    monkeypatch.setattr(server, "_combined", seen)
    with batch_db.connection_context():
        actors = _start(batch_db)
        writers = [Session(batch_db, functools.partial(_answer, actors[o[0]], o)) for o in ORDERS]
        with KeyHolder(batch_db):
            # in this order, the batch's arrival order: the first waits for the key to
            # combine next (not queued), the others queue
            writers[0].start()
            _until(functools.partial(_waiting_for_the_key, batch_db), "no next combiner")
            for i, writer in enumerate(writers[1:], 1):
                writer.start()
                _until(functools.partial(_queued_are, batch_db, i), f"order {i} not queued")
        answers = [writer.finished().result for writer in writers]
        assert [writer.error for writer in writers] == [None] * len(ORDERS)
        assert _queued(batch_db) == 0
        together = outcome(batch_db, answers)
    # one batch, in arrival order (a refused order returns no rows to note)
    assert sorted(in_batch) == [i + 1 for i, a in enumerate(answers) if a[0] == "placed"]
    assert together["answers"] == one_by_one["answers"]
    assert together["rows"] == one_by_one["rows"]
    assert together["problems"] == one_by_one["problems"] == []
    refused = [a for a in together["answers"] if a[0] == "refused"]
    assert {a[1] for a in refused} == {"ValidationError", "InsufficientFunds", "LimitExceeded"}


def test_a_writer_gone_after_queuing_is_not_placed(
    combining: tuple[peewee.Database, dict[str, Actor]],
) -> None:
    database, actors = combining
    gone = uuid.uuid4()
    with KeyHolder(database, next_too=True):
        url = parse_url(backends.server_url_or_skip("postgres"))
        other = open_database(backends.with_name(url, database.database), pool_size=1, timeout=10)
        with other.connection_context():
            pid = other.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
            queued = other.execute_sql(
                "SELECT queued FROM energy_tui_place_first(%s, 'ann', 'buy', 1.00, 0.1000, "
                "'gtc', NULL, 'limit', %s, NULL, NULL, NULL, 'user:ann')",
                (gone, START),
            ).fetchone()[0]
        other.close_all()  # its session ends: nobody would hear the answer
        assert queued is not None
        _until(
            lambda: (
                not database.execute_sql(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
            ),
            "the writer's session did not end",
        )
    placed = place_order(actors["bob"], OrderRequest("sell", Decimal("1.00"), Decimal("0.1")))
    assert placed.order.status == "open" and not placed.fills  # ann's buy is not there
    assert not EnergyOrder.select().where(EnergyOrder.id == gone).exists()
    assert _queued(database) == 0
    assert invariants.check() == []


def test_a_writer_whose_wait_is_cancelled_takes_its_order_back(
    combining: tuple[peewee.Database, dict[str, Actor]],
) -> None:
    database, actors = combining

    def buy_within_300ms() -> None:
        database.execute_sql("SET statement_timeout = '300ms'")
        try:
            place_order(actors["ann"], OrderRequest("buy", Decimal("1"), Decimal("0.1")))
        finally:
            database.execute_sql("RESET statement_timeout")

    with KeyHolder(database, next_too=True):
        writer = Session(database, buy_within_300ms).started().finished(20)
        assert "statement timeout" in str(writer.error)
        assert _queued(database) == 0  # withdrawn
    place_order(actors["bob"], OrderRequest("sell", Decimal("1.00"), Decimal("0.1")))
    assert EnergyOrder.select().count() == 1  # bob's: ann's buy was never placed
    assert invariants.check() == []


def test_inside_a_callers_transaction_the_function_is_called_directly(
    combining: tuple[peewee.Database, dict[str, Actor]], sent: list[str]
) -> None:
    database, actors = combining
    with database.atomic():  # a savepoint of the caller's transaction, as before
        place_order(actors["ann"], OrderRequest("buy", Decimal("1"), Decimal("0.1")))
    assert sent == [server._PLACE]
    sent.clear()
    place_order(actors["ann"], OrderRequest("buy", Decimal("1"), Decimal("0.1")))
    assert sent == [server._FIRST]  # nobody else placing: at once, one round trip


class MarketLockHolder:
    """A session of its own holding the market lock (`market_state` FOR UPDATE) for
    `seconds`: a placement that comes meanwhile waits for it, as behind another writer."""

    def __init__(self, database: peewee.Database, seconds: float) -> None:
        self.database, self.seconds = database, seconds
        self.held = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def __enter__(self) -> MarketLockHolder:
        self.thread.start()
        assert self.held.wait(10)
        return self

    def _hold(self) -> None:
        with self.database.connection_context(), self.database.atomic():
            self.database.execute_sql("SELECT 1 FROM market_state WHERE id = 1 FOR UPDATE")
            self.held.set()
            time.sleep(self.seconds)

    def __exit__(self, *exc: object) -> None:
        self.thread.join(30)


def test_a_writer_alone_calls_the_function_directly_until_it_meets_another(
    combining: tuple[peewee.Database, dict[str, Actor]],
    sent: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database, actors = combining
    # a lock wait this long means another writer: not a loaded machine's pause (the
    # default, 0.25 ms, is for a writer that may go back to the queue now and then)
    monkeypatch.setattr(server, "MET", 0.5)

    def buy() -> None:
        place_order(actors["bob"], OrderRequest("buy", Decimal("1"), Decimal("0.1")))

    for _ in range(server.CALM):
        buy()
    assert sent == [server._FIRST] * server.CALM  # through 0020, meeting nobody
    sent.clear()
    buy()
    buy()
    assert sent == [server._PLACE] * 2  # alone: the direct call, without the wrapper
    sent.clear()
    with MarketLockHolder(database, 1.5):
        buy()  # waits for the other session's lock: another writer was there
    buy()
    assert sent == [server._PLACE, server._FIRST]  # through the queue again
    assert EnergyOrder.select().count() == server.CALM + 4
    assert invariants.check() == []


def test_several_processes_are_combined_and_keep_every_invariant(backend) -> None:
    if backend.name != "postgres":
        pytest.skip("combining is PostgreSQL's (migration 0020)")
    groups = [[f"c{n}-p{k}" for k in range(3)] for n in range(combine_worker.PROCESSES)]
    for address in (a for group in groups for a in group):
        trader(address, watt="100000", energy="10000")
    start_at = time.time() + 3
    jobs = [(backend.url, group, 500 + n, start_at) for n, group in enumerate(groups)]
    with multiprocessing.get_context("spawn").Pool(combine_worker.PROCESSES) as pool:
        results = pool.starmap(combine_worker.run, jobs)
    reports = [report for report, _ in results]
    assert [r.unexpected for r in reports] == [[]] * combine_worker.PROCESSES
    # some orders were placed after another writer's in the same batch, in one commit
    assert max(max(in_batch) for _, in_batch in results) > 1
    assert sum(r.placed for r in reports) > combine_worker.ORDERS  # of all processes'
    assert invariants.check() == []
    assert _queued(backend.database) == 0
