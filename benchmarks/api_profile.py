"""Where the server's time of one HTTP placement goes, without the network and the
machine's scheduler: the ASGI app is called in-process (no socket), its worker-thread
hop replaced by a direct call, and CPU time (time.process_time) is counted, which
other jobs on a loaded machine disturb far less than wall time.

    python benchmarks/api_profile.py [--db URL --reset] [--requests 300] [--profile]

Prints, per request (the best and the median of 5 rounds): the placement in-process,
the key check + the rate limits + the placement in-process (the server's own work),
GET /health through the app (the framework and the middleware alone), and POST
/api/v1/orders through the app; then what the app adds to the server's own work.
`--profile` adds cProfile's top functions of the POST (cumulative).
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import json
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import parser, prepare
from benchmarks.api import order_body, trader
from energy_tui.api import context
from energy_tui.api.app import create_app
from energy_tui.config import default_settings
from energy_tui.db.urls import parse_url
from energy_tui.runtime import Runtime
from energy_tui.services import keys
from energy_tui.services.market import OrderRequest, place_order
from energy_tui.services.rate_limits import Limit, SharedLimiter

ROUNDS = 5


def cpu_per_call(run: Callable[[int], None], count: int) -> tuple[float, float]:
    """(best, median) CPU seconds per call over ROUNDS rounds of `count` calls."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        run(count)
        rounds.append((time.process_time() - started) / count)
    return min(rounds), statistics.median(rounds)


def asgi_calls(app: Any, method: str, path: str, body: bytes, headers: list) -> Callable:
    async def calls(count: int) -> None:
        for _ in range(count):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "headers": [(b"host", b"x"), *headers],
                "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 3000), "state": {},
            }  # fmt: skip
            pending = [{"type": "http.request", "body": body, "more_body": False}]
            status: list[int] = []
            await app(scope, _receiving(pending), _sending(status))
            if status[0] >= 300:
                raise SystemExit(f"{method} {path} answered {status[0]}")

    return lambda count: asyncio.run(calls(count))


def _receiving(pending: list[dict[str, Any]]) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.sleep(3600)  # never: the app reads the body once
        return {}

    return receive


def _sending(status: list[int]) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    return send


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    url, database = prepare(args.db, args.reset)
    maker, _ = trader("bench-maker", with_key=False)
    place_order(maker, OrderRequest("sell", Decimal("9000000"), Decimal("0.2100")))
    place_order(maker, OrderRequest("buy", Decimal("9000000"), Decimal("0.1900")))
    actor, key = trader("bench-client")
    assert key is not None
    settings = dataclasses.replace(
        default_settings(), api_rate_per_key=1_000_000, api_rate_per_address=1_000_000
    )
    app = create_app(settings, runtime=Runtime(settings, parse_url(url), database))

    async def direct(work: Callable[[], Any]) -> Any:  # no thread hop: all CPU is ours
        return work()

    context.run_in_threadpool = direct  # type: ignore[assignment]
    limiter = SharedLimiter()
    limits = [Limit("a:127.0.0.1", 1_000_000), Limit("k:bench", 1_000_000)]

    def placements(count: int, checked: bool = False) -> None:
        for i in range(count):
            body = order_body(i)
            if checked:
                limiter.wait(limits)
                keys.verify(key, "127.0.0.1")
            place_order(actor, OrderRequest(str(body["side"]), Decimal("1"),
                                            Decimal(str(body["price"])), "ioc"))  # fmt: skip

    body = json.dumps(order_body(0)).encode()
    post = asgi_calls(app, "POST", "/api/v1/orders", body, [
        (b"x-api-key", key.encode()), (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ])  # fmt: skip
    figures = {
        "placement in-process": cpu_per_call(placements, args.requests),
        "rate limits + key check + placement in-process": cpu_per_call(
            lambda n: placements(n, checked=True), args.requests
        ),
        "GET /health through the app": cpu_per_call(
            asgi_calls(app, "GET", "/health", b"", []), args.requests
        ),
        "POST /api/v1/orders through the app": cpu_per_call(post, args.requests),
    }
    print(f"{url.split('@')[-1]}: CPU per request, best / median of {ROUNDS} rounds")
    for name, (best, median) in figures.items():
        print(f"  {name:48} {best * 1e6:7.0f} / {median * 1e6:7.0f} us")
    own = figures["rate limits + key check + placement in-process"][0]
    added = figures["POST /api/v1/orders through the app"][0] - own
    print(f"  the app adds to the server's own work: {added * 1e6:.0f} us (best)")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        post(args.requests)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
