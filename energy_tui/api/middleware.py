"""What every request passes through: the access log and metrics, the body size cap.

The rate limits are not here but in `Api.call` (context.py): they are kept in the
database, shared by every worker process, and spent in the request's own worker thread
and connection, before the credential is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from energy_tui import locations
from energy_tui.api.metrics import Metrics
from energy_tui.api.problems import problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ACCESS_LOG = "api-access.log"


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
    """The outermost layer: times the request, caps the body, then counts it and
    writes its access-log line (never a secret or a body)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        metrics: Metrics,
        log: logging.Logger,
    ) -> None:
        self.app = app
        self.max_body = max_body
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
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self.too_large()
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
