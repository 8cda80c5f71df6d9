"""What every request passes through: the access log and metrics, the body size cap,
the rate limits.

Rate limits are token buckets kept in this process (with `--workers N` each worker
keeps its own, so the effective limit is up to N times the setting): one per client
address and one per credential (an API key or a login token, named by a hash of it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from energy_tui import locations
from energy_tui.api.context import credential
from energy_tui.api.metrics import Metrics
from energy_tui.api.problems import problem
from energy_tui.errors import AuthError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UNLIMITED = ("/health", "/health/ready", "/metrics")
ACCESS_LOG = "api-access.log"


class Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """`per_minute` requests a minute per name, in bursts of up to that many."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}
        self.lock = threading.Lock()

    def wait(self, name: str) -> float:
        """0 if `name` may go now (and spend a token), else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self.clock()
        with self.lock:
            bucket = self.buckets.get(name)
            if bucket is None:
                if len(self.buckets) > 100_000:  # forget idle names rather than grow
                    self.buckets.clear()
                bucket = self.buckets[name] = Bucket(float(self.per_minute), now)
            bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate


class _TooLarge(Exception):
    pass


def access_logger() -> logging.Logger:
    """One JSON line per request in the log dir's api-access.log (owner-only)."""
    logger = logging.getLogger("energy_tui.api.access")
    path = locations.log_dir() / ACCESS_LOG
    for old in list(logger.handlers):
        if getattr(old, "baseFilename", None) == str(path):
            return logger
        logger.removeHandler(old)
        old.close()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        locations.private_dir(path.parent)
        locations.private_file(path)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


class Guard:
    """The outermost layer: times the request, caps the body, applies the rate limits,
    then counts it and writes its access-log line (never a secret or a body)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        per_key: int,
        per_address: int,
        metrics: Metrics,
        log: logging.Logger,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.per_key = RateLimiter(per_key)
        self.per_address = RateLimiter(per_address)
        self.metrics = metrics
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
            await send(message)

        try:
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, sending)
            else:
                await self.app(scope, self.capped(receive), sending)
        except _TooLarge:
            if not status["sent"]:
                await self.too_large()(scope, receive, sending)
        finally:
            self.finish(scope, status["code"], time.perf_counter() - started)

    def refusal(self, scope: Scope) -> ASGIApp | None:
        path = scope.get("path", "")
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self.too_large()
        if path in UNLIMITED:
            return None
        client = scope.get("client")
        address = client[0] if client else "-"
        wait = self.per_address.wait(address)
        if not wait:
            try:
                given = credential(Request(scope))
            except AuthError:
                given = None
            if given is not None:
                wait = self.per_key.wait(given.bucket)
        if wait:
            seconds = max(1, math.ceil(wait))
            return problem(
                429,
                f"too many requests: try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        return None

    def too_large(self) -> ASGIApp:
        return problem(413, f"the request body is larger than {self.max_body} bytes")

    def capped(self, receive: Receive) -> Receive:
        seen = 0

        async def reading() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return message

        return reading

    def finish(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.observe(template, method, status, seconds)
        client = scope.get("client")
        state = scope.get("state") or {}
        line = {
            "time": dt.datetime.now(dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "who": state.get("who"),
            "client": client[0] if client else None,
        }
        self.log.info(json.dumps(line, separators=(",", ":")))
