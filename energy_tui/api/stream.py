"""The live market stream (Server-Sent Events): a book snapshot, then sequenced
updates (book levels, trades), and a resync (a fresh snapshot) for a client that fell
behind.

One poller per server process reads the market's change marker
(`book.version()`) every POLL_SECONDS, however many clients listen; only when it moved
does it read the book and the new trades, once, and hand the same events to every
client's queue. A client whose queue is full is marked behind: its queue is dropped
and it gets a `resync` event with a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import peewee
from starlette.concurrency import run_in_threadpool

from energy_tui.api.schemas import BookOut, TradeOut
from energy_tui.errors import EnergyError
from energy_tui.services.market import book as market_book
from energy_tui.services.market.book import TradeFilter

log = logging.getLogger("energy_tui.api")
POLL_SECONDS = 0.5
DEPTH = 20
QUEUE_SIZE = 256
KEEPALIVE_SECONDS = 15.0


@dataclasses.dataclass(eq=False)
class Client:
    queue: asyncio.Queue[tuple[int, str, dict[str, Any]]]
    behind: bool = False


class Hub:
    def __init__(self, database: Any, metrics: Any = None) -> None:
        self.database = database
        self.metrics = metrics
        self.clients: set[Client] = set()
        self.seq = 0  # of the last event handed out
        self.version: int | None = None
        self.trade_seq: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.polls = 0  # database polls made (tests: one per interval, not per client)

    # --- the one poller --------------------------------------------------------------

    def _read(self) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        with self.database.connection_context():
            version = market_book.version()
            if version == self.version:
                return version, []
            events: list[tuple[str, dict[str, Any]]] = []
            trades = market_book.trades(TradeFilter(limit=200))
            newest = trades[0].seq if trades else 0
            if self.trade_seq is not None:
                for trade in reversed(trades):
                    if trade.seq > self.trade_seq:
                        events.append(("trade", TradeOut.of(trade).model_dump()))
            self.trade_seq = max(newest, self.trade_seq or 0)
            if self.version is not None:
                events.append(("book", BookOut.of(market_book.book(DEPTH)).model_dump()))
            return version, events

    async def _run(self) -> None:
        # a new start reads a new baseline (the market may have moved while nobody listened)
        self.version = self.trade_seq = None
        try:
            while self.clients:
                self.polls += 1
                try:
                    version, events = await run_in_threadpool(self._read)
                except Exception:  # the database away for a moment: try again
                    await asyncio.sleep(POLL_SECONDS * 4)
                    continue
                self.version = version
                for kind, data in events:
                    self.seq += 1
                    self._publish((self.seq, kind, data))
                await asyncio.sleep(POLL_SECONDS)
        finally:
            self.task = None

    def _publish(self, event: tuple[int, str, dict[str, Any]]) -> None:
        for client in list(self.clients):
            if client.behind:
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                client.behind = True

    def _ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    # --- one client ------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        with self.database.connection_context():
            return BookOut.of(market_book.book(DEPTH)).model_dump()

    async def events(
        self,
        max_events: int | None = None,
        recheck: Callable[[], Awaitable[object]] | None = None,
    ) -> AsyncGenerator[str, None]:
        """The client's frames. `recheck` (the caller's credentials, checked again) runs
        every KEEPALIVE_SECONDS, however busy the market: a key revoked or a session
        ended closes the stream with an `end` event saying why."""
        loop = asyncio.get_running_loop()
        checked = loop.time()
        client = Client(asyncio.Queue(QUEUE_SIZE))
        self.clients.add(client)
        if self.metrics is not None:
            self.metrics.stream_clients.set(len(self.clients))
        self._ensure_running()
        sent = 0
        try:
            snapshot = await run_in_threadpool(self._snapshot)
            yield _frame(self.seq, "snapshot", snapshot)
            sent += 1
            while max_events is None or sent < max_events:
                if recheck is not None and loop.time() - checked >= KEEPALIVE_SECONDS:
                    # by the clock, not only at keep-alives: a busy market sends an
                    # event before every keep-alive, and a revoked key streamed on
                    checked = loop.time()
                    try:
                        await recheck()
                    except EnergyError as exc:
                        yield _frame(self.seq, "end", {"detail": str(exc)})
                        return
                if client.behind:
                    while not client.queue.empty():
                        client.queue.get_nowait()
                    client.behind = False
                    snapshot = await run_in_threadpool(self._snapshot)
                    yield _frame(self.seq, "resync", snapshot)
                    sent += 1
                    continue
                try:
                    seq, kind, data = await asyncio.wait_for(
                        client.queue.get(), timeout=KEEPALIVE_SECONDS
                    )
                except TimeoutError:  # the check above runs before the next wait
                    yield ": keep-alive\n\n"
                    continue
                yield _frame(seq, kind, data)
                sent += 1
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            # a snapshot or the credentials' check could not be read: end the stream
            # (its credentials unchecked, it may not go on) with an event saying why,
            # not a traceback in the server's log and a connection cut short
            log.warning("stream ended, the database stopped answering: %s", type(exc).__name__)
            detail = f"the database stopped answering ({type(exc).__name__}): reconnect later"
            yield _frame(self.seq, "end", {"detail": detail})
        finally:
            self.clients.discard(client)
            if self.metrics is not None:
                self.metrics.stream_clients.set(len(self.clients))
            if not self.clients and self.task is not None:
                self.task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.sleep(0)


def _frame(seq: int, kind: str, data: dict[str, Any]) -> str:
    body = {"trade": "trade", "end": "end"}.get(kind, "book")  # snapshot, book, resync: a book
    payload = json.dumps({"seq": seq, "type": kind, body: data}, separators=(",", ":"))
    return f"id: {seq}\nevent: {kind}\ndata: {payload}\n\n"
