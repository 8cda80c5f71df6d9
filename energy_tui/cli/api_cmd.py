"""`energy-tui api [--host H] [--port P] [--workers N]`: the HTTP API (extra `api`)."""

from __future__ import annotations

import argparse
import importlib.util

from energy_tui.config import load_settings
from energy_tui.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise ConfigError(
            "the HTTP API needs the `api` extra: pip install 'energy-tui[api]' "
            "(or `pip install -e '.[api]'` in a checkout)"
        )
    db = getattr(args, "db", None)
    settings = load_settings(db)
    host = settings.api_host if args.host is None else _host(args.host)
    port = settings.api_port if args.port is None else _number(args.port, "--port", 1, 65535)
    workers = _number(args.workers, "--workers", 1, 64)
    from energy_tui.api.server import serve

    serve(settings, host, port, workers, db)
    return 0


def _number(raw: str, label: str, low: int, high: int) -> int:
    from energy_tui.services import validation

    return validation.whole_number(raw, label, minimum=low, maximum=high)


def _host(raw: str) -> str:
    text = raw.strip()
    if not text or any(char.isspace() for char in text) or not text.isascii():
        raise ConfigError(f"--host {raw[:40]!r} is not a host name or address")
    return text
