"""The API's machinery: rate limits, the body cap, the access log, metrics, health,
the OpenAPI document, the live stream (one poll per process, resync when behind)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import peewee
import pytest
from openapi_spec_validator import validate

from energy_tui import locations
from energy_tui.api import routes_orders, stream
from energy_tui.db.models import db
from energy_tui.errors import AuthError, DatabaseUnavailable, MarketBusy
from tests.api_support import PASSWORD, client_for, key, make_app, problem, user
from tests.market_support import place

V1 = "/api/v1"


@pytest.fixture(scope="module")
def client():
    return client_for(make_app())


def test_health_ready_and_the_openapi_document_is_valid_openapi_3_1(client, backend):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ready" and ready["schema_version"] >= 13
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    paths = document["paths"]
    for path in ("/api/v1/orders", "/api/v1/market/book", "/api/v1/keys", "/api/v1/stream"):
        assert path in paths
    placed = paths["/api/v1/orders"]["post"]
    assert "examples" in json.dumps(document["components"]["schemas"]["OrderIn"])
    assert "application/problem+json" in placed["responses"]["422"]["content"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(document["components"]["securitySchemes"])
    assert client.get("/docs").status_code == 200


def test_rate_limits_per_key_and_per_address_answer_429_with_retry_after(backend):
    limited = client_for(make_app(api_rate_per_key=3, api_rate_per_address=5))
    user("alice")
    alice, other = key("alice"), key("alice")
    for _ in range(3):
        assert limited.get(f"{V1}/market/book", headers=alice).status_code == 200
    refused = problem(limited.get(f"{V1}/market/book", headers=alice), 429, "too many requests")
    assert refused["status"] == 429
    response = limited.get(f"{V1}/market/book", headers=alice)
    assert int(response.headers["Retry-After"]) >= 1
    # another key is not held back by alice's, until the address's allowance is spent
    assert limited.get(f"{V1}/market/book", headers=other).status_code == 429  # address: 5 spent
    assert limited.get("/health").status_code == 200  # health is never limited


def test_two_app_instances_on_one_database_share_one_allowance(backend):
    # as two worker processes of `energy-tui api --workers 2` (or two hosts) would: each
    # app has its own middleware and limiter object, only the database is shared
    first = client_for(make_app(api_rate_per_key=3, api_rate_per_address=100))
    second = client_for(make_app(api_rate_per_key=3, api_rate_per_address=100))
    user("alice")
    alice = key("alice")
    answers = [
        app.get(f"{V1}/market/book", headers=alice).status_code
        for app in (first, second, first, second)
    ]
    assert answers == [200, 200, 200, 429]
    refused = problem(second.get(f"{V1}/market/book", headers=alice), 429, "too many")
    assert refused["status"] == 429
    limited = first.get(f"{V1}/market/book", headers=alice)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) == 20


def test_the_shared_allowance_refills_with_time_and_a_refusal_spends_nothing(backend, now):
    app = client_for(make_app(api_rate_per_key=0, api_rate_per_address=60))
    user("alice")
    alice = key("alice")
    assert all(app.get(f"{V1}/auth/whoami", headers=alice).status_code == 200 for _ in range(60))
    refused = app.get(f"{V1}/auth/whoami", headers=alice)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
    now.advance(seconds=0.5)
    assert app.get(f"{V1}/auth/whoami", headers=alice).status_code == 429
    now.advance(seconds=0.5)  # one second: one request, though two were refused
    assert app.get(f"{V1}/auth/whoami", headers=alice).status_code == 200
    assert app.get(f"{V1}/auth/whoami", headers=alice).status_code == 429
    now.advance(minutes=5)  # a full bucket holds a minute's worth, no more
    assert all(app.get(f"{V1}/auth/whoami", headers=alice).status_code == 200 for _ in range(60))
    assert app.get(f"{V1}/auth/whoami", headers=alice).status_code == 429


def test_a_bad_authorization_header_is_still_counted_against_its_address(backend):
    app = client_for(make_app(api_rate_per_key=0, api_rate_per_address=2))
    bad = {"Authorization": "Basic abc"}
    assert [app.get(f"{V1}/auth/whoami", headers=bad).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]


def test_login_is_limited_per_address_and_health_never(backend):
    app = client_for(make_app(api_rate_per_key=0, api_rate_per_address=2))
    user("alice")
    login = {"username": "alice", "password": PASSWORD}
    statuses = [app.post(f"{V1}/auth/login", json=login).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert app.get("/health/ready").status_code == 200
    assert app.get("/health").status_code == 200


def test_a_body_over_the_cap_is_refused_with_413(backend):
    capped = client_for(make_app(api_max_body_bytes=1024))
    user("alice")
    alice = key("alice")
    big = {"side": "buy", "amount": "1", "price": "0.25", "expires": "x" * 2000}
    problem(capped.post(f"{V1}/orders", json=big, headers=alice), 413, "larger than 1024")
    # without a Content-Length (chunked): cut off while it is read, still a 413 (it was
    # FastAPI's "There was an error parsing the body", 400)
    chunks = iter([json.dumps(big).encode()])
    json_headers = {**alice, "Content-Type": "application/json"}
    response = capped.post(f"{V1}/orders", content=chunks, headers=json_headers)
    problem(response, 413, "larger than 1024")


def test_the_access_log_has_one_json_line_per_request_and_no_secret(backend):
    logged = client_for(make_app())
    user("alice", watt="10")
    alice = key("alice")
    logged.get(f"{V1}/market/book", headers=alice)
    logged.post(f"{V1}/auth/login", json={"username": "alice", "password": PASSWORD})
    logged.get(f"{V1}/market/book", headers={"X-API-Key": "etk_00000000_" + "x" * 43})
    text = (locations.log_dir() / "api-access.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/api/v1/market/book", 200),
        ("POST", "/api/v1/auth/login", 200),
        ("GET", "/api/v1/market/book", 401),
    ]
    assert lines[0]["who"].startswith("user:alice key:etk_")
    assert lines[1]["who"] == "user:alice"
    assert lines[2]["who"] == "key:etk_00000000"  # refused: the prefix, never the rest
    assert {"time", "duration_ms", "client"} <= set(lines[0])
    assert alice["X-API-Key"] not in text
    assert alice["X-API-Key"][13:] not in text  # the secret (it may itself hold "_")
    assert PASSWORD not in text and "x" * 43 not in text


def test_metrics_count_requests_orders_and_trades(client, backend):
    user("alice", watt="10")
    user("bob", energy="10")
    alice, bob = key("alice"), key("bob")
    body = {"amount": "2", "price": "0.25", "confirm": True}
    client.post(f"{V1}/orders", json={"side": "sell", **body}, headers=bob)
    client.post(f"{V1}/orders", json={"side": "buy", **body}, headers=alice)
    text = client.get("/metrics").text
    assert 'energy_api_requests_total{method="POST",route="/api/v1/orders",status="201"}' in text
    assert 'energy_api_orders_placed_total{side="buy",status="filled"}' in text
    assert "energy_api_trades_total" in text
    assert "energy_api_order_placement_seconds_bucket" in text
    assert "energy_api_request_duration_seconds_bucket" in text
    assert "energy_api_db_connections_in_use" in text


def test_the_stream_sends_a_snapshot_then_trades_and_book_changes(client, backend):
    user("alice", watt="10")
    user("bob", energy="10")
    alice = key("alice")
    buyer = user_actor("alice")
    seller = user_actor("bob")

    def trade_later() -> None:
        # FastAPI's TestClient hands back a stream only once it ended: the trades come
        # from this thread, spaced by more than the hub's poll, and one more change
        # than needed, so that the fourth event comes whatever the timing
        steps = (
            (seller, "sell", "2"),
            (buyer, "buy", "1"),
            (seller, "sell", "1"),
            (buyer, "buy", "1"),
        )
        for actor, side, amount in steps:
            time.sleep(stream.POLL_SECONDS * 2)
            with db.connection_context():
                place(actor, side, amount, "0.25")

    worker = threading.Thread(target=trade_later)
    worker.start()
    events = []
    with client.stream("GET", f"{V1}/stream", params={"max_events": 4}, headers=alice) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    worker.join()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "snapshot" and "asks" in events[0]["book"]
    assert "trade" in kinds and "book" in kinds
    seqs = [e["seq"] for e in events[1:]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    trade = next(e["trade"] for e in events if e["type"] == "trade")
    assert (trade["amount"], trade["price"]) == ("1.00", "0.2500")


def user_actor(name: str):
    from energy_tui.services.context import Actor

    return Actor(label=f"user:{name}", role="trader", username=name, prosumer_address=name)


def test_one_poll_per_process_and_a_resync_for_a_client_that_fell_behind(backend, monkeypatch):
    monkeypatch.setattr(stream, "QUEUE_SIZE", 2)

    async def scenario() -> None:
        hub = stream.Hub(db)
        listeners = [hub.events(max_events=2) for _ in range(3)]
        firsts = [await listener.__anext__() for listener in listeners]
        assert all("event: snapshot" in first for first in firsts)
        assert len(hub.clients) == 3 and hub.task is not None  # one poller for all
        await asyncio.sleep(1.2)
        assert hub.polls <= 4  # every POLL_SECONDS, not once per client
        for n in range(3):
            hub._publish((100 + n, "book", {}))
        behind = [client for client in hub.clients if client.behind]
        assert len(behind) == 3
        resync = await listeners[0].__anext__()
        assert "event: resync" in resync
        for listener in listeners:
            await listener.aclose()
        assert hub.clients == set()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("error", "fragment", "retry"),
    [
        (MarketBusy("the market is busy: another order held it for more than 30 s", 30),
         "market is busy", "1"),
        (DatabaseUnavailable("cannot reach the database server"), "cannot reach", None),
        (peewee.OperationalError("server closed the connection"), "stopped answering", None),
    ],
)  # fmt: skip
def test_a_busy_market_or_a_lost_database_is_503(client, backend, monkeypatch, error, fragment,
                                                   retry):  # fmt: skip
    user("alice", watt="10")
    alice = key("alice")

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(routes_orders, "place_order", fail)
    body = {"side": "buy", "amount": "1", "price": "0.25", "confirm": True}
    response = client.post(f"{V1}/orders", json=body, headers=alice)
    problem(response, 503, fragment)
    assert response.headers.get("Retry-After") == retry


def test_a_stream_ends_when_its_key_stops_being_valid(backend, monkeypatch):
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.05)
    checks = []

    async def recheck() -> None:
        checks.append(1)
        if len(checks) > 1:
            raise AuthError("API key etk_00000000 was revoked")

    async def scenario() -> list[str]:
        hub = stream.Hub(db)
        return [frame async for frame in hub.events(None, recheck)]

    frames = asyncio.run(scenario())
    assert "event: snapshot" in frames[0]
    assert frames[-1].startswith("id: ") and "event: end" in frames[-1]
    assert "was revoked" in frames[-1]


def test_a_busy_stream_of_a_revoked_key_ends_too(backend, monkeypatch):
    """The credentials are checked again every KEEPALIVE_SECONDS however busy the
    market: with an event always waiting, the check at keep-alives alone never ran."""
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.05)
    checks = []

    async def recheck() -> None:
        checks.append(1)
        raise AuthError("API key etk_00000000 was revoked")

    async def scenario() -> list[str]:
        hub = stream.Hub(db)

        async def busy_market() -> None:
            for n in range(100_000):
                hub._publish((n, "book", {}))
                await asyncio.sleep(0.002)

        market = asyncio.create_task(busy_market())
        try:
            return [frame async for frame in hub.events(400, recheck)]
        finally:
            market.cancel()

    frames = asyncio.run(scenario())
    assert checks and "event: end" in frames[-1] and "was revoked" in frames[-1]
    assert len(frames) < 200  # ended by the check, not by max_events


def test_a_stream_whose_check_meets_a_lost_database_ends_with_an_event(backend, monkeypatch):
    # it raised out of the stream: a traceback in the server's log, the connection cut
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.05)

    async def recheck() -> None:
        raise peewee.OperationalError("server closed the connection unexpectedly")

    async def scenario() -> list[str]:
        hub = stream.Hub(db)
        return [frame async for frame in hub.events(None, recheck)]

    frames = asyncio.run(scenario())
    assert "event: snapshot" in frames[0]
    assert "event: end" in frames[-1] and "database stopped answering" in frames[-1]


def test_the_cli_help_does_not_import_the_web_framework():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from energy_tui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'uvicorn', 'pydantic', 'jwt', 'prometheus_client')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_access_log_rotates_like_a_rotating_file_handler(tmp_path):
    from energy_tui.api.middleware import AccessLog

    path = tmp_path / "api-access.log"
    writer = AccessLog(path, max_bytes=100, backups=2)
    for number in range(10):
        writer.write(json.dumps({"n": number, "pad": "x" * 20}))
    writer.close()
    kept = [path, path.with_name("api-access.log.1"), path.with_name("api-access.log.2")]
    assert not path.with_name("api-access.log.3").exists()
    numbers = [json.loads(line)["n"] for p in reversed(kept) for line in p.read_text().splitlines()]
    assert numbers == list(range(10))[-len(numbers) :] and len(numbers) >= 6
    assert all(p.stat().st_size <= 100 for p in kept)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
