"""Shared set-up for the benchmark scripts (not tests): a database to fill and time."""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import queue
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee

from energy_tui.db import migrations
from energy_tui.db.connect import backend_of, open_database
from energy_tui.db.models import MODELS, ApiClientOrder, ApiRateLimit, SchemaVersion, db
from energy_tui.db.urls import DatabaseURL, parse_url


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", help="database URL (default: a new SQLite file in a temp dir)")
    p.add_argument(
        "--reset",
        action="store_true",
        help="drop energy-tui's tables in --db first (required for a non-empty db)",
    )
    p.add_argument("--seed", type=int, default=7)
    return p


def prepare(url: str | None, reset: bool) -> tuple[str, peewee.Database]:
    """Bind the models to a fresh, migrated database and return (url, database)."""
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    database = open_database(parse_url(url), pool_size=2, timeout=30)
    db.initialize(database)
    database.connect()
    if reset:
        # PostgreSQL: CASCADE, for the server functions whose types are the tables' rows
        # (migrate makes them again); without it a second --reset failed
        cascade = {"cascade": True} if backend_of(database) == "postgres" else {}
        database.drop_tables(
            [ApiClientOrder, ApiRateLimit, *MODELS, SchemaVersion], safe=True, **cascade
        )
    elif migrations.status(database).current:
        raise SystemExit(f"{url} already holds an energy-tui schema: pass --reset to drop it")
    migrations.migrate(database)
    return url, database


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 0.5):.3f} ms, p99 {percentile(ms, 0.99):.3f} ms, "
        f"mean {statistics.fmean(ms):.3f} ms"
    )


# --- The matching workload, shared by matching.py and floor.py ------------------------

MID = Decimal("0.2000")


@dataclasses.dataclass(frozen=True)
class Job:
    """One incoming order: who places it and what."""

    address: str
    side: str
    amount: Decimal
    price: Decimal


@dataclasses.dataclass(frozen=True)
class Workload:
    traders: list[str]
    resting: list[Job]  # placed before the clock starts: bids below mid, asks above
    incoming: list[Job]  # timed; prices straddle the mid so that about half trade


def workload(seed: int, traders: int, resting: int, orders: int) -> Workload:
    rng = random.Random(seed)
    addresses = [f"bench-{i:03d}" for i in range(traders)]
    book = []
    for i in range(resting):
        side = "buy" if i % 2 else "sell"
        step = Decimal(rng.randint(1, 200)) / 10000
        price = MID - step if side == "buy" else MID + step
        book.append(Job(addresses[i % traders], side, Decimal(rng.randint(100, 5000)) / 100, price))
    incoming = []
    for _ in range(orders):
        address = rng.choice(addresses)
        side = rng.choice(("buy", "sell"))
        offset = Decimal(rng.randint(-60, 60)) / 10000
        price = MID + offset if side == "buy" else MID - offset
        incoming.append(Job(address, side, Decimal(rng.randint(1, 2000)) / 100, price))
    return Workload(addresses, book, incoming)


def fresh_database(url: str | None, name: str = "bench_scale") -> str:
    """A new empty database: a SQLite file in a temp dir (url None or sqlite), or
    `name` dropped and created again on the server of a PostgreSQL/MySQL `url`."""
    if url is None or url.startswith("sqlite"):
        return f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    parsed = parse_url(url)
    force = " WITH (FORCE)" if parsed.backend == "postgres" else ""
    with _server(parsed) as run:
        run(f"DROP DATABASE IF EXISTS {name}{force}")
        run(f"CREATE DATABASE {name}")
    return _with_name(url, parsed, name)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    parsed = parse_url(url)
    force = " WITH (FORCE)" if parsed.backend == "postgres" else ""  # a pool's idle sessions
    with _server(parsed) as run:
        run(f"DROP DATABASE IF EXISTS {parsed.name}{force}")


def _with_name(url: str, parsed: DatabaseURL, name: str) -> str:
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0] if parsed.name else head.rstrip("/")
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


class _server:
    """A connection to the server's maintenance database, autocommitting."""

    def __init__(self, parsed: DatabaseURL) -> None:
        self.parsed = parsed

    def __enter__(self) -> Callable[[str], None]:
        p = self.parsed
        if p.backend == "postgres":
            import psycopg

            self.conn: Any = psycopg.connect(
                host=p.host, port=p.port, user=p.user or None, password=p.password or None,
                dbname="postgres", autocommit=True,
            )  # fmt: skip
            return lambda sql: self.conn.execute(sql)
        import pymysql  # type: ignore[import-untyped]

        self.conn = pymysql.connect(
            host=p.host, port=p.port, user=p.user or None, password=p.password or "",
            autocommit=True,
        )  # fmt: skip

        def run(sql: str) -> None:
            with self.conn.cursor() as cursor:
                cursor.execute(sql)

        return run

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def populate(url: str, load: Workload) -> None:
    """Migrate, create the traders (funded) and place the resting book through the
    market service, then close: the state both the floor and energy-tui start from."""
    from energy_tui import clock
    from energy_tui.db.models import Prosumer
    from energy_tui.services import prosumers
    from energy_tui.services.context import Actor
    from energy_tui.services.market import OrderRequest, place_order
    from energy_tui.services.market import rules as market_rules

    database = open_database(parse_url(url), pool_size=2, timeout=30)
    db.initialize(database)
    database.connect()
    migrations.migrate(database)
    op = Actor.local_operator()
    for address in load.traders:
        prosumers.add_prosumer(op, address, f"Bench {address}")
        prosumers.deposit(op, address, "1000000")
        prosumers.add_meter_reading(op, address, generated="1000000")
    market_rules.set_rule(op, "ORDER_TTL_HOURS", "0")  # nothing expires mid-run
    grid = market_rules.current().grid_operator_address  # the fee's receiver, as placing makes it
    now = clock.now()
    Prosumer.create(
        address=grid, name="Grid operator", kind="grid_operator", created_at=now, updated_at=now
    )
    for job in load.resting:
        place_order(actor_of(job.address), OrderRequest(job.side, job.amount, job.price))
    database.close()
    if hasattr(database, "close_all"):
        database.close_all()


def actor_of(address: str) -> Any:
    from energy_tui.services.context import Actor

    return Actor(f"user:{address}", "trader", username=address, prosumer_address=address)


# --- N processes placing at once ---------------------------------------------------------


@dataclasses.dataclass
class WriterResult:
    started: float
    ended: float
    latencies: list[float]
    lock_wait: float  # seconds spent taking the market lock
    cpu: float  # this process's CPU seconds while placing (SQLite: the engine's too)
    trades: int
    refused: int
    server_cpu: float | None  # its PostgreSQL server process's CPU seconds meanwhile


def server_pid(connection: Any) -> int | None:
    """The PostgreSQL server process of a psycopg `connection`, if it runs on this
    machine (seen in /proc); None otherwise."""
    pid = int(connection.execute("SELECT pg_backend_pid()").fetchone()[0])
    return pid if _process_cpu(pid) is not None else None


def _process_cpu(pid: int | None) -> float | None:
    """User and system CPU seconds of process `pid` on this machine (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Placer:
    """What a writer process runs: `place(job) -> trades`, raising `Refused` for an
    order the rules turn down; `lock_wait` accumulates the time spent taking the lock.
    `server_pid`: its PostgreSQL server process, when the server runs on this machine
    (its CPU is read from /proc: the server's work per order, combining included)."""

    lock_wait: float = 0.0
    server_pid: int | None = None

    def place(self, job: Job) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Refused(Exception):
    pass


def _writer(
    make: Callable[[str], Placer],
    url: str,
    jobs: Sequence[Job],
    barrier: Any,
    results: Any,
) -> None:
    placer = make(url)
    latencies, trades, refused = [], 0, 0
    barrier.wait()
    server0 = _process_cpu(placer.server_pid)
    cpu0 = time.process_time()
    started = time.perf_counter()
    for job in jobs:
        t0 = time.perf_counter()
        try:
            trades += placer.place(job)
        except Refused:
            refused += 1
        latencies.append(time.perf_counter() - t0)
    ended = time.perf_counter()
    cpu = time.process_time() - cpu0
    server1 = _process_cpu(placer.server_pid)
    server = None if server0 is None or server1 is None else server1 - server0
    placer.close()
    results.put(
        WriterResult(started, ended, latencies, placer.lock_wait, cpu, trades, refused, server)
    )


@dataclasses.dataclass(frozen=True)
class RunFigures:
    orders: int
    seconds: float
    trades: int
    refused: int
    latencies: list[float]
    lock_share: float  # of the writers' summed session time
    cpu_per_order: float
    server_cpu_per_order: float | None  # PostgreSQL on this machine: its processes'

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    def line(self) -> str:
        return (
            f"{self.rate:8,.0f} orders/s  p50 {percentile(self.latencies, 0.5) * 1000:7.2f} ms  "
            f"p99 {percentile(self.latencies, 0.99) * 1000:7.2f} ms  "
            f"lock wait {self.lock_share:5.1%}  client CPU/order {self.cpu_per_order * 1e6:6.0f} us"
            + (
                f"  server CPU/order {self.server_cpu_per_order * 1e6:6.0f} us"
                if self.server_cpu_per_order is not None
                else ""
            )
            + f"  ({self.trades} trades, {self.refused} refused)"
        )


def run_writers(
    make: Callable[[str], Placer], url: str, jobs: list[Job], writers: int
) -> RunFigures:
    """Place `jobs` from `writers` processes at once (job i goes to writer i mod N)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(writers)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(make, url, jobs[i::writers], barrier, results))
        for i in range(writers)
    ]
    for proc in procs:
        proc.start()
    done: list[WriterResult] = []
    while len(done) < writers:
        try:
            done.append(results.get(timeout=1))
        except queue.Empty:
            if any(proc.exitcode for proc in procs):
                for proc in procs:
                    proc.kill()
                raise SystemExit("a writer failed (its traceback is above)") from None
    for proc in procs:
        proc.join()
    seconds = max(r.ended for r in done) - min(r.started for r in done)
    session = sum(r.ended - r.started for r in done)
    return RunFigures(
        len(jobs),
        seconds,
        sum(r.trades for r in done),
        sum(r.refused for r in done),
        [lat for r in done for lat in r.latencies],
        sum(r.lock_wait for r in done) / session,
        sum(r.cpu for r in done) / len(jobs),
        None
        if any(r.server_cpu is None for r in done)
        else sum(r.server_cpu or 0.0 for r in done) / len(jobs),
    )


def alternate(rounds: int, kinds: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(round, kind) in an order that alternates which kind goes first."""
    for r in range(rounds):
        order = kinds if r % 2 == 0 else list(reversed(kinds))
        for kind in order:
            yield r, kind


def median_figures(runs: list[RunFigures]) -> dict[str, float]:
    return {
        "rate": statistics.median(r.rate for r in runs),
        "p50": statistics.median(percentile(r.latencies, 0.5) for r in runs),
        "p99": statistics.median(percentile(r.latencies, 0.99) for r in runs),
        "lock": statistics.median(r.lock_share for r in runs),
        "cpu": statistics.median(r.cpu_per_order for r in runs),
    }


def server_cpu_text(runs: Sequence[RunFigures]) -> str:
    """The runs' median server CPU per order, to end a line of figures ("" where the
    server's processes could not be read: not PostgreSQL, or not on this machine)."""
    values = [r.server_cpu_per_order for r in runs]
    if any(v is None for v in values):
        return ""
    return f"  server CPU {statistics.median(v or 0.0 for v in values) * 1e6:5.0f} us/order"


def paired_rounds(
    kinds: dict[str, Any], writers: int, load: Workload, db: str | None, name: str, repeat: int
) -> dict[tuple[str, int], list[RunFigures]]:
    """Each kind at 1 and `writers` writers, every round on a fresh database, the order
    reversed every other round; each run's line printed as it ends."""
    configs = [(kind, n) for kind in kinds for n in (1, writers)]
    figures: dict[tuple[str, int], list[RunFigures]] = {c: [] for c in configs}
    width = max(len(kind) for kind in kinds)
    for r in range(repeat):
        for kind, n in configs if r % 2 == 0 else list(reversed(configs)):
            url = fresh_database(db, name)
            try:
                populate(url, load)
                run = run_writers(kinds[kind], url, load.incoming, n)
            finally:
                drop_database(url)
            figures[(kind, n)].append(run)
            print(f"  round {r + 1} {kind:{width}} {n} writer(s) {run.line()}", flush=True)
    return figures
