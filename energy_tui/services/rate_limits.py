"""Rate limits kept in the database, so that every worker process and every host on one
database share one allowance per name (issue 14).

Each limit is a token bucket of `per_minute` requests that refills at `per_minute` a
minute, kept as one number per name (GCRA, the generic cell rate algorithm): `tat`, the
moment the bucket is full again. A request at `now` costs `step` = 60 s / per_minute; it
may go if max(tat, now) + step <= now + 60 s, and then tat moves to max(tat, now) +
step. A refused request spends nothing.

All the names of one request (its client address, its credential) are checked and
spent by ONE statement: an upsert whose update computes the verdict from the row as it
is under the row's lock (PostgreSQL, MySQL) or the database's write lock (SQLite), so
that requests racing in several processes never both take the last token. PostgreSQL
and SQLite return the verdicts with RETURNING; MySQL/MariaDB (no RETURNING on an upsert)
read them back in the same transaction, under the rows' locks.

Times are the wall clock (`clock.now`), which hosts behind one proxy keep in step with
NTP: a skew of some milliseconds moves a limit of hundreds a minute by less than one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import threading

from peewee import Database

from energy_tui import clock
from energy_tui.db.connect import backend_of
from energy_tui.db.models import ApiRateLimit, db
from energy_tui.errors import EnergyError

MINUTE_US = 60_000_000
_EPOCH = dt.datetime(1970, 1, 1)
_SWEEP_EVERY = 1000  # calls of this process between deletions of full buckets


@dataclasses.dataclass(frozen=True)
class Limit:
    """`per_minute` requests a minute for `name`, in bursts of up to that many."""

    name: str
    per_minute: int

    @property
    def step(self) -> int:
        """Microseconds one request costs (rounded up: never more than the setting)."""
        return -(-MINUTE_US // self.per_minute)


class TooManyRequests(EnergyError):
    """A rate limit is spent; `seconds` until it lets the request through."""

    def __init__(self, seconds: float) -> None:
        self.retry_after = max(1, math.ceil(seconds))
        super().__init__(f"too many requests: try again in {self.retry_after} s")


def micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


class SharedLimiter:
    """Spends one request of each limit in the database; see the module's docstring."""

    def __init__(self) -> None:
        self._calls = 0
        self._lock = threading.Lock()

    def spend(self, limits: list[Limit]) -> None:
        """Spend one request of each limit, or raise TooManyRequests."""
        seconds = self.wait(limits)
        if seconds:
            raise TooManyRequests(seconds)

    def wait(self, limits: list[Limit]) -> float:
        """0 if the request may go (one token of each limit spent, in one statement),
        else the seconds until the most exhausted of them lets it (nothing spent on the
        refusing names)."""
        limits = [limit for limit in limits if limit.per_minute > 0]
        if not limits:
            return 0.0
        now = micros(clock.now())
        rows = [(lim.name, now + lim.step, now + lim.step * lim.per_minute) for lim in limits]
        verdicts = _spend(db.obj, now, rows)
        self._sweep(now)
        waits = [
            (tat + fresh - cap - now) / 1_000_000
            for name, fresh, cap in rows
            for allowed, tat in [verdicts[name]]
            if not allowed
        ]
        return max(waits, default=0.0)

    def _sweep(self, now: int) -> None:
        """Now and then forget the names whose bucket is full again (as if never seen)."""
        with self._lock:
            self._calls += 1
            due = self._calls % _SWEEP_EVERY == 0
        if due:
            ApiRateLimit.delete().where(ApiRateLimit.tat < now).execute()


def _spend(
    database: Database, now: int, rows: list[tuple[str, int, int]]
) -> dict[str, tuple[bool, int]]:
    """name -> (allowed, tat after the statement) for each (name, now + step, cap)."""
    backend = backend_of(database)
    upsert, select = _statements(backend, database.param, len(rows))
    params: list[object] = [value for row in rows for value in row]
    if select is not None:  # MySQL: no RETURNING on an upsert; read back under the locks
        with database.atomic():
            database.execute_sql(upsert, [*params, now, now])
            found = database.execute_sql(select, [name for name, _, _ in rows]).fetchall()
    else:
        found = database.execute_sql(upsert, [*params, now, now, now]).fetchall()
    return {name: (bool(allowed), int(tat)) for name, allowed, tat in found}


@functools.cache
def _statements(backend: str, p: str, count: int) -> tuple[str, str | None]:
    """The upsert for `count` names (and MySQL's read-back), made once."""
    values = ", ".join(f"({p}, {p}, {p}, 1)" for _ in range(count))
    if backend == "mysql":
        # assignments run left to right: `allowed` is set first, from the old tat
        fresh = f"GREATEST(tat - {p}, 0) + VALUES(tat)"
        upsert = (
            f"INSERT INTO api_rate_limits (name, tat, cap, allowed) VALUES {values} "
            f"ON DUPLICATE KEY UPDATE allowed = IF({fresh} <= VALUES(cap), 1, 0), "
            f"tat = IF(allowed = 1, {fresh}, tat), cap = VALUES(cap)"
        )
        names = ", ".join(p for _ in range(count))
        return upsert, f"SELECT name, allowed, tat FROM api_rate_limits WHERE name IN ({names})"
    greatest = "max" if backend == "sqlite" else "GREATEST"
    fresh = f"{greatest}(r.tat - {p}, 0) + excluded.tat"
    upsert = (
        f"INSERT INTO api_rate_limits AS r (name, tat, cap, allowed) VALUES {values} "
        "ON CONFLICT (name) DO UPDATE SET "
        f"allowed = CASE WHEN {fresh} <= excluded.cap THEN 1 ELSE 0 END, "
        f"tat = CASE WHEN {fresh} <= excluded.cap THEN {fresh} ELSE r.tat END, "
        "cap = excluded.cap RETURNING name, allowed, tat"
    )
    return upsert, None
