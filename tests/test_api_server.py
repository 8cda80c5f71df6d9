"""The real server: `energy-tui api` as a subprocess on a free loopback port, driven
with a real HTTP client (httpx), on every backend."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api_support import key, user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(url: str, tmp_path: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """`energy-tui --db URL api --port P OPTIONS` until the block ends."""
    port = free_port()
    home = tmp_path / "server-home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "DATABASE_URL", "JWT_SECRET", "API_", "PROMETHEUS_"))
    }
    env.update(HOME=str(home), BCRYPT_ROUNDS="4", JWT_SECRET="j" * 40)
    process = subprocess.Popen(
        [sys.executable, "-m", "energy_tui", "--db", url, "api", "--port", str(port), *options],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {process.communicate()}")
            time.sleep(0.1)
        yield base, home
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert "Traceback" not in err, err


@pytest.fixture
def server(backend, tmp_path: Path):
    with running(backend.url, tmp_path) as started:
        yield started


def test_the_real_server_places_crosses_and_streams(server):
    base, home = server
    user("alice", watt="100")
    user("bob", energy="50")
    alice, bob = key("alice"), key("bob")
    order = {"amount": "4", "price": "0.25", "confirm": True}
    with httpx.Client(base_url=base, timeout=10) as http:
        with http.stream(
            "GET", "/api/v1/stream", params={"max_events": 20}, headers=alice
        ) as stream:
            lines = stream.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert json.loads(first[6:])["type"] == "snapshot"
            sell = http.post("/api/v1/orders", json={"side": "sell", **order}, headers=bob)
            assert sell.status_code == 201, sell.text
            buy = http.post("/api/v1/orders", json={"side": "buy", **order}, headers=alice)
            assert buy.json()["order"]["status"] == "filled"
            for line in lines:
                if line.startswith("data: ") and json.loads(line[6:])["type"] == "trade":
                    trade = json.loads(line[6:])["trade"]
                    break
        assert (trade["amount"], trade["price"], trade["buyer_address"]) == (
            "4.00",
            "0.2500",
            "alice",
        )
        balances = http.get("/api/v1/account/balances", headers=alice).json()
        assert balances["energy_bought"] == "4.00"
        token = http.post(
            "/api/v1/auth/login",
            json={"username": "alice", "password": "a long enough password"},
        ).json()["access_token"]
        whoami = http.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert whoami.json()["username"] == "alice"
        assert "energy_api_requests_total" in http.get("/metrics").text
    logs = list(home.rglob("api-access.log"))
    assert logs and alice["X-API-Key"] not in logs[0].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--port", "0"), "--port"),
        (("--port", "http"), "--port"),
        (("--workers", "0"), "--workers"),
        (("--host", "two words"), "--host"),
    ],
)
def test_bad_server_options_are_one_line_and_exit_2(cli, args, fragment):
    result = cli("api", *args)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("energy-tui: ") and fragment in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line_and_exit_2_before_claiming_to_serve(cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("--db", f"sqlite:///{tmp_path}/x.db", "api", "--port", port)
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"energy-tui: cannot listen on 127.0.0.1:{port}: ")
    assert "--port" in result.err and "serving" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_bad_api_setting_names_its_source(cli, monkeypatch):
    monkeypatch.setenv("API_PORT", "99999")
    result = cli("api")
    assert result.code == 2 and "API_PORT" in result.err and "environment" in result.err


def test_metrics_add_up_over_the_worker_processes(tmp_path, backend):
    if backend.name != "sqlite":
        pytest.skip("the worker processes' metrics: one backend is enough")
    user("alice")
    alice = key("alice")
    with running(backend.url, tmp_path, "--workers", "2") as (base, _):
        for _ in range(12):  # a new connection each: the workers share them out
            assert httpx.get(f"{base}/api/v1/market/rules", headers=alice).status_code == 200
        text = httpx.get(f"{base}/metrics").text
    found = re.search(
        r'energy_api_requests_total\{method="GET",route="/api/v1/market/rules",'
        r'status="200"\} ([0-9.]+)',
        text,
    )
    assert found is not None, text[:2000]
    assert float(found[1]) == 12


def test_the_server_uses_httptools_and_uvloop_when_installed_with_tcp_nodelay():
    import pickle

    from energy_tui.api import server

    protocol = server.http_protocol()
    assert protocol.__name__ == "NoDelayHttpToolsProtocol"  # the api extra installs httptools
    assert pickle.loads(pickle.dumps(protocol)) is protocol  # --workers hands it over
    assert server.event_loop() == ("asyncio" if sys.platform == "win32" else "uvloop")


def test_the_start_up_names_the_database_with_its_password_masked():
    from energy_tui.api.server import startup_lines
    from energy_tui.config import default_settings
    from energy_tui.db.urls import parse_url

    url = parse_url("postgresql://energy:s3cret@db.example.org:5432/market")
    lines = startup_lines(default_settings(), "127.0.0.1", 3000, 4, url)
    assert "energy-tui api: database postgresql://energy:***@db.example.org:5432/market" in lines
    assert "s3cret" not in "\n".join(lines)
