"""`energy-tui serve`: the database password is never printed nor on an app's command line."""

from __future__ import annotations

import os

import pytest

URL = "postgresql://trader:s3cret-Pw@db.example.org:5432/market"


class FakeServer:
    """Stands in for textual-serve's Server: records what each app process would get."""

    seen: list[dict[str, object]] = []

    def __init__(self, command: str, host: str, port: int, title: str) -> None:
        self.command, self.host = command, host

    def serve(self) -> None:
        FakeServer.seen.append({"command": self.command, "env": dict(os.environ)})


@pytest.fixture
def serve(cli, monkeypatch: pytest.MonkeyPatch):
    textual_serve = pytest.importorskip("textual_serve.server")
    monkeypatch.setattr(textual_serve, "Server", FakeServer)
    FakeServer.seen = []
    monkeypatch.setenv("DATABASE_URL", "placeholder")  # so that the test's end restores it
    monkeypatch.delenv("DATABASE_URL")
    return lambda *args: cli("serve", *args)


def test_the_password_is_neither_printed_nor_on_the_app_command_line(serve):
    result = serve("--db", URL)
    assert result.code == 0, result.err
    [app] = FakeServer.seen
    assert "s3cret-Pw" not in result.out + result.err
    assert "s3cret-Pw" not in str(app["command"]) and "--db" not in str(app["command"])
    assert "database postgresql://trader:***@db.example.org:5432/market" in result.out


def test_the_app_processes_get_the_database_through_the_environment(serve):
    serve("--db", URL)
    [app] = FakeServer.seen
    assert app["env"]["DATABASE_URL"] == URL


def test_a_malformed_url_is_refused_before_serving(serve):
    result = serve("--db", "oracle://x")
    assert result.code == 2
    assert "unsupported database URL" in result.err
    assert FakeServer.seen == []


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "myhost.example.org"])
def test_binding_beyond_loopback_prints_a_warning_on_its_own_line(serve, host):
    result = serve("--host", host, "--db", URL)
    assert result.code == 0, result.err
    [warning] = [line for line in result.out.splitlines() if line.startswith("WARNING:")]
    assert warning.startswith(f"WARNING: {host} is not a loopback address")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binding_has_no_warning(serve, host):
    result = serve("--host", host, "--db", URL)
    assert result.code == 0, result.err
    assert "WARNING" not in result.out + result.err
