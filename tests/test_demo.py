"""The demo: deterministic seeding, invariants with bots running, isolation, serve."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from energy_tui import clock, locations
from energy_tui.config import load_settings
from energy_tui.db import migrations
from energy_tui.db.models import MODELS, EnergyOrder, Prosumer, User
from energy_tui.services import auth, demo
from energy_tui.services.market import invariants
from tests import backends

NOW = dt.datetime(2026, 11, 20, 15, 0)
SKIP = {
    "id",
    "buy_order_id",
    "sell_order_id",
    "user_id",
    "api_key_id",
    "password_hash",
    "event_data",
    "created_at",
    "applied_at",
}


def _seeded_rows(path: Path) -> dict[str, list[str]]:
    database = backends.bind(f"sqlite://{path}")
    with database.connection_context():
        migrations.migrate(database)
        demo.seed(seed_value=3, days=2, now=NOW, rounds=4)
        rows = {}
        for model in MODELS:
            fields = [f for f in model._meta.sorted_fields if f.column_name not in SKIP]
            query = model.select(*fields).tuples()
            rows[model._meta.table_name] = sorted(map(repr, query))
    database.close()
    return rows


def test_same_seed_gives_the_same_rows(tmp_path: Path) -> None:
    first = _seeded_rows(tmp_path / "a.db")
    second = _seeded_rows(tmp_path / "b.db")
    assert first == second
    assert len(first["energy_trades"]) > 10
    assert len(first["prosumers"]) >= 19


def test_seeded_market_and_bot_steps_keep_every_invariant(tmp_path: Path) -> None:
    database = backends.bind(f"sqlite://{tmp_path / 'demo.db'}")
    with database.connection_context():
        migrations.migrate(database)
        people = demo.seed(seed_value=5, days=2, now=clock.now(), rounds=4)
        assert invariants.check() == []
        assert {u.role for u in people} == {"admin", "operator", "viewer", "trader"}
        kinds = {p.kind for p in Prosumer.select()}
        assert kinds == {"residential", "commercial", "industrial", "grid_operator"}
        assert EnergyOrder.select().where(EnergyOrder.is_active == True).count() > 5  # noqa: E712
        bots = demo.Bots(1, 1.0, 5)
        rng = random.Random(11)
        for _ in range(300):
            bots.step(rng)
        assert invariants.check() == []


def test_demo_never_writes_the_configured_database(tmp_path: Path, cli) -> None:
    configured = tmp_path / "real.db"
    result = cli("--db", f"sqlite://{configured}", "db", "migrate")
    assert result.code == 0
    before = configured.read_bytes()
    from energy_tui.cli import demo_cmd

    args = type(
        "Args",
        (),
        {
            "reset": True,
            "seed": 2,
            "bots": 0,
            "speed": 1.0,
            "as_user": None,
            "db": f"sqlite://{configured}",
        },
    )()
    runtime, _people = demo_cmd.prepare(args, announce=False)
    assert runtime.url.path == str(locations.data_dir() / "demo.db")
    with runtime.database.connection_context():
        assert User.select().count() == len(demo.USERS)
    assert configured.read_bytes() == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_on_loopback_with_the_app_page_and_stops(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    port = _free_port()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite://{tmp_path / 'served.db'}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "energy_tui", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert "textual.js" in page and "energy-tui" in page
    finally:
        server.terminate()
        assert server.wait(timeout=10) is not None


def _orders_of(address: str) -> list[EnergyOrder]:
    return list(EnergyOrder.select().where(EnergyOrder.trader_address == address))


def test_bots_leave_the_prosumer_of_a_logged_in_user_alone(tmp_path: Path) -> None:
    database = backends.bind(f"sqlite://{tmp_path / 'demo.db'}")
    with database.connection_context():
        migrations.migrate(database)
        demo.seed(seed_value=5, days=1, now=clock.now(), rounds=4)
        settings = load_settings(db=f"sqlite://{tmp_path / 'demo.db'}")
        login = auth.authenticate("alice", "demo-alice-pass", None, settings)
        bots = demo.Bots(2, 1.0, 5, spare=["home-07"])  # carol's, say
        before = {home: _orders_of(home) for home in ("home-01", "home-07")}
        rng = random.Random(3)

        for _ in range(400):
            bots.step(rng)

        # none placed, cancelled or amended for them; other bots may still take their
        # resting orders (that is the market, not a bot acting for them)
        for home, orders in before.items():
            after = {o.id: o for o in _orders_of(home)}
            assert set(after) == {o.id for o in orders}, home
            for order in orders:
                now = after[order.id]
                assert (now.energy_amount, now.price_per_kwh, now.seq) == (
                    order.energy_amount,
                    order.price_per_kwh,
                    order.seq,
                ), home
                assert now.status != "cancelled" or order.status == "cancelled", home
        assert EnergyOrder.select().count() > sum(map(len, before.values())) + 50

        auth.logout(login.token)  # alice leaves: the bots may trade for home-01 again
        for _ in range(400):
            bots.step(rng)
        assert len(_orders_of("home-01")) > len(before["home-01"])
        assert len(_orders_of("home-07")) == len(before["home-07"])


def test_the_demo_login_screen_lists_the_demo_users(monkeypatch: pytest.MonkeyPatch) -> None:
    from energy_tui.cli import demo_cmd
    from energy_tui.tui import app as app_module

    made: dict[str, object] = {}

    class Runs:
        def run(self) -> None:
            made["ran"] = True

    def fake_make_app(settings, url, auto_login=None, login_hint=""):
        made["hint"] = login_hint
        return Runs()

    monkeypatch.setattr(app_module, "make_app", fake_make_app)
    args = type("Args", (), {"reset": True, "seed": 2, "bots": 0, "speed": 1.0, "as_user": None})()
    assert demo_cmd.run_demo(args) == 0
    hint = str(made["hint"]).splitlines()
    assert made["ran"]  # two lines: they fit under the form at 80x24
    assert hint == [
        "Demo users: alice, bob, carol (traders), admin,",
        "operator, viewer; password demo-<name>-pass",
    ]


def test_the_login_hint_is_shown_under_the_form_but_not_on_the_lock_screen(
    tmp_path: Path,
) -> None:
    from energy_tui.cli.demo_cmd import hint
    from energy_tui.tui.app import make_app
    from energy_tui.tui.screens.login import LoginScreen
    from tests.tui_identity_support import login, screen_text, seeded_database

    settings, url = seeded_database(tmp_path)

    async def scenario() -> None:
        app = make_app(settings, url, login_hint=hint(list(demo.USERS)))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            assert isinstance(app.screen, LoginScreen)
            text = screen_text(app)
            assert "Demo users: alice, bob, carol (traders), admin," in text
            assert "operator, viewer; password demo-<name>-pass" in text
            await login(pilot, "alice", typed=False)
            app.action_lock()
            await pilot.pause()
            assert "password demo-" not in screen_text(app)

    asyncio.run(scenario())


def test_the_demo_history_looks_like_one_market_through_the_day(tmp_path: Path) -> None:
    """Issue 12: trades at all minutes of the hour (not only on it), prices that move
    within the hour and from day to day, and full days with similar trade counts."""
    from energy_tui.db.models import EnergyTrade
    from energy_tui.services.market import stats

    database = backends.bind(f"sqlite://{tmp_path / 'demo.db'}")
    with database.connection_context():
        migrations.migrate(database)
        demo.seed(seed_value=7, days=4, now=NOW, rounds=4)
        trades = list(EnergyTrade.select())
        minutes = {t.executed_at.minute for t in trades}
        hourly = stats.candles(3600, NOW - dt.timedelta(days=4))
        days = [
            c
            for c in stats.candles(86400, NOW - dt.timedelta(days=4))
            if c.start.date() < NOW.date()
        ]

    assert len(minutes) > 30  # spread over the hour
    moving = [c for c in hourly if c.trades > 1 and c.high > c.low]
    assert len(moving) > len([c for c in hourly if c.trades > 1]) / 2  # hours with a range
    full = [c.trades for c in days[1:]]  # the first day starts at the seed's start hour
    assert max(full) <= 2 * min(full), full
    assert len({c.close for c in days}) == len(days)  # each day closes at its own price


def test_bots_started_from_the_command_line_place_orders(tmp_path: Path, cli) -> None:
    """`energy-tui demo` hands its parsed --speed (an exact decimal) to the bots: they
    act, rather than die on their first step behind the app's screen."""
    from energy_tui.cli import demo_cmd
    from energy_tui.cli.commands import build_parser

    args = build_parser().parse_args(["demo", "--reset", "--bots", "1", "--speed", "100"])
    runtime, _people = demo_cmd.prepare(args, announce=False)
    bots = demo_cmd._bots(args, runtime, ())
    bots.start()
    try:
        for _ in range(100):
            if bots.steps >= 3:
                break
            time.sleep(0.05)
    finally:
        bots.stop()
    assert bots.steps >= 3


def test_a_bot_that_hits_an_unexpected_error_logs_it_and_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind the app's screen nobody sees a bot thread die: it logs the traceback and,
    after a short pause, trades on."""
    database = backends.bind(f"sqlite://{tmp_path / 'demo.db'}")
    with database.connection_context():
        migrations.migrate(database)
    calls: list[float] = []

    def flaky_step(self: demo.Bots, rng: random.Random) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise KeyError("a bug in one step")

    monkeypatch.setattr(demo.Bots, "step", flaky_step)
    assert demo.UNEXPECTED_PAUSE_SECONDS == 2.0
    monkeypatch.setattr(demo, "UNEXPECTED_PAUSE_SECONDS", 0.3)
    bots = demo.Bots(1, 50.0, 5)
    bots.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        bots.stop()
    assert len(calls) >= 3, "the bot stopped after the error"
    assert calls[1] - calls[0] >= 0.3  # it paused before carrying on
    failures = [r for r in caplog.records if r.name == demo.__name__ and r.exc_info]
    assert len(failures) == 1
    assert "unexpected error" in failures[0].getMessage()
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is KeyError
