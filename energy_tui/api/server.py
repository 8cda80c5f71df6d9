"""Serving the app with uvicorn: `energy-tui api` calls `serve`; each worker process
builds its app with `app_factory` from the same settings (the environment carries the
--db given on the command line)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from energy_tui import logs
from energy_tui.api.app import create_app
from energy_tui.api.context import jwt_enabled
from energy_tui.config import Settings, load_settings
from energy_tui.db.urls import DatabaseURL
from energy_tui.errors import ConfigError
from energy_tui.runtime import bind, ensure_schema

log = logging.getLogger("energy_tui.api")


def _no_delay(transport: Any) -> None:
    """TCP_NODELAY on an accepted connection: with --workers the accepted sockets came
    without it, so a response's body (a second small write after its headers) waited
    for the client's delayed ACK, 40 ms a request."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol (pure Python), with TCP_NODELAY."""

    def connection_made(self, transport: Any) -> None:
        _no_delay(transport)
        super().connection_made(transport)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed
    HttpToolsProtocol = None  # type: ignore[assignment,misc]
else:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol (a C parser), with TCP_NODELAY. Module-level:
        with --workers uvicorn hands the class to the worker processes by pickling."""

        def connection_made(self, transport: Any) -> None:
            _no_delay(transport)
            super().connection_made(transport)


def http_protocol() -> type[asyncio.Protocol]:
    """httptools (about 0.3 ms less a request than h11 here) when it is installed (the
    `api` extra installs it), else h11; with TCP_NODELAY either way."""
    if HttpToolsProtocol is None:
        return NoDelayH11Protocol
    return NoDelayHttpToolsProtocol


def event_loop() -> str:
    """uvloop when installed (the `api` extra installs it, except on Windows), else
    asyncio's own."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def app_factory() -> FastAPI:
    logs.setup()
    return create_app(load_settings())


def startup_lines(
    settings: Settings, host: str, port: int, workers: int, url: DatabaseURL
) -> list[str]:
    shown = f"[{host}]" if ":" in host else host
    lines = [
        f"energy-tui api: serving http://{shown}:{port} with {workers} worker"
        f"{'' if workers == 1 else 's'} (docs at /docs; stop with Ctrl+C)",
        f"energy-tui api: database {url}",  # its password masked
    ]
    if jwt_enabled(settings.jwt_secret):
        lines.append("energy-tui api: password login on (POST /api/v1/auth/login)")
    else:
        why = "unset" if not settings.jwt_secret else "shorter than 32 bytes"
        lines.append(f"energy-tui api: password login off: JWT_SECRET is {why}; API keys work")
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(
            "energy-tui api: listening beyond this machine without TLS: put a TLS proxy "
            "in front (README, HTTP API)"
        )
    return lines


def require_free(host: str, port: int) -> None:
    """Bind `host:port` once (as uvicorn will, with SO_REUSEADDR) and let it go, so that a
    port in use stops the start-up with one line and exit 2, before it claims to serve
    (uvicorn would log a traceback-like ERROR and exit 3, which here means "denied")."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot listen on {host}:{port}: {why} (another server there? choose another "
            "port with --port or API_PORT)"
        ) from None


def serve(settings: Settings, host: str, port: int, workers: int, db: str | None) -> None:
    import uvicorn

    require_free(host, port)
    runtime = bind(settings)  # fail here, once, with the CLI's message
    with runtime.database.connection_context():
        ensure_schema(runtime)
    close_all = getattr(runtime.database, "close_all", None)
    if close_all is not None:
        close_all()
    if db is not None:
        os.environ["DATABASE_URL"] = db  # for the worker processes' settings
    made = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # one set of metrics over every worker (metrics.py), in a directory of our own
        made = tempfile.mkdtemp(prefix="energy-tui-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    for line in startup_lines(settings, host, port, workers, runtime.url):
        print(line, file=sys.stderr, flush=True)
    log.info("HTTP API on %s:%s, %s worker(s)", host, port, workers)
    try:
        uvicorn.run(
            "energy_tui.api.server:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            access_log=False,  # the API writes its own, as JSON (api-access.log)
            log_level="warning",
            server_header=False,
            http=http_protocol(),
            loop=event_loop(),
            proxy_headers=True,
            forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
