"""`energy-tui api` (run by `api_cmd`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "api",
        parents=[common],
        help="serve the HTTP API (install the `api` extra)",
        description="Serve the HTTP API: keys, bots and meters use it without the "
        "database's password. Settings: API_HOST, API_PORT, JWT_SECRET.",
    )
    parser.add_argument("--host", metavar="H", help="listen address (default: API_HOST)")
    parser.add_argument("--port", metavar="P", help="listen port (default: API_PORT)")
    parser.add_argument("--workers", metavar="N", default="1", help="worker processes (default 1)")
    parser.set_defaults(handler="api_cmd:run")
