"""What every request passes through: the access log and metrics, the body size cap.

The rate limits are not here but in `Api.call` (context.py): they are kept in the
database, shared by every worker process, and spent in the request's own worker thread
and connection, before the credential is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException

from energy_tui import locations
from energy_tui.api.metrics import Metrics
from energy_tui.api.problems import METHODS, problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ACCESS_LOG = "api-access.log"
log = logging.getLogger("energy_tui.api")


# one encoder for every line (json.dumps with separators builds a new one each call)
_compact = json.JSONEncoder(separators=(",", ":")).encode


class _TooLarge(HTTPException):
    """Raised while the body is read: an HTTPException, so that FastAPI, which turns
    any other error of the body's reading into a 400, lets it through to its 413."""


class AccessLog:
    """api-access.log in the log dir (owner-only): one JSON line per request, each in
    ONE append write, so that the worker processes' lines never interleave; rotated
    at `max_bytes` like a RotatingFileHandler (api-access.log.1 ... .N).

    Not a `logging` handler: the logging machinery (a LogRecord with the caller's frame,
    the handler's lock, RotatingFileHandler's two stats, seek and text-mode tell before
    each line) cost about as much as the rest of the middleware together."""

    def __init__(self, path: Path, max_bytes: int = 10_000_000, backups: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.lock = threading.Lock()
        self.fd: int | None = None
        self._start()

    def _start(self) -> None:
        try:
            locations.private_dir(self.path.parent)
            self.fd = self._open()
        except OSError as exc:
            log.warning("the API's access log %s cannot be written: %s", self.path, exc)

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, line: str) -> None:
        data = line.encode("utf-8") + b"\n"
        with self.lock:
            if self.fd is None:
                return
            try:
                if os.fstat(self.fd).st_size + len(data) > self.max_bytes:
                    self._rotate(len(data))
                os.write(self.fd, data)
            except OSError as exc:
                log.warning("the API's access log %s cannot be written: %s", self.path, exc)

    def _rotate(self, coming: int) -> None:
        """As RotatingFileHandler does: .N-1 -> .N, ..., the file -> .1, a new file;
        unless another worker process rotated it already (then only reopen it)."""
        self.close()
        if self.path.exists() and self.path.stat().st_size + coming > self.max_bytes:
            for number in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{number}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self.fd = self._open()

    def move_to(self, path: Path) -> None:
        with self.lock:
            self.close()
            self.path = path
            self._start()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_access_log: AccessLog | None = None


def access_log() -> AccessLog:
    """This process's writer of the log dir's api-access.log: one, shared by every app
    the process builds, moved to the log dir of now when that changed (tests)."""
    global _access_log
    path = locations.log_dir() / ACCESS_LOG
    if _access_log is None:
        _access_log = AccessLog(path)
    elif _access_log.path != path:
        _access_log.move_to(path)
    return _access_log


class Guard:
    """The outermost layer: times the request, caps the body, then counts it and
    writes its access-log line (never a secret or a body)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        metrics: Metrics,
        log: AccessLog,
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

    @property
    def too_large_detail(self) -> str:
        return f"the request body is larger than {self.max_body} bytes"

    def too_large(self) -> ASGIApp:
        return problem(413, self.too_large_detail)

    def capped(self, receive: Receive) -> Receive:
        seen = 0

        async def reading() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge(413, self.too_large_detail)
            return message

        return reading

    def finish(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        if method not in METHODS:  # a new label each; whatever the client typed (a key?)
            method = "OTHER"
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
        self.log.write(_compact(line))
