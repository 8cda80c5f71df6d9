"""Pictures of every screen from one fixed, realistic dataset (README and snapshot tests).

    python -m energy_tui.tui.screenshots [--out screenshots] [--size 120x36]

Seeds the demo community (fixed seed, fixed "now") into a SQLite file in a temp dir,
runs the app headless with the clock frozen, logs in as alice (trader), admin and
viewer, and writes `<out>/<name>.svg` for each screen and the important dialogs. Ids,
API key secrets and the SSH client address are fixed too, so a rerun writes the same
files byte for byte. The snapshot tests (tests/test_snapshots.py) use the same dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import functools
import os
import random
import tempfile
import threading
import types
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from unittest import mock

from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._toast import Toast
from textual.worker import WorkerCancelled

from energy_tui import clock, locations
from energy_tui.config import OPTIONS, Settings, load_settings
from energy_tui.db import ids, migrations
from energy_tui.db.models import PriceAlert
from energy_tui.runtime import Runtime, bind
from energy_tui.services import alerts, demo, keys, users
from energy_tui.services.context import Actor
from energy_tui.services.market import OrderRequest, place_order
from energy_tui.services.market import book as market_book
from energy_tui.tui.app import EnergyApp, make_app
from energy_tui.tui.screens.keys import KeyReveal
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from energy_tui.tui.screens.order_book import DEPTH, OrderBookScreen
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.ladder import PriceLadder
from energy_tui.tui.widgets.order_confirm import ConfirmOrder

NOW = dt.datetime(2026, 11, 25, 14, 0)  # UTC, a sunny early afternoon
SEED = 7
SIZE = (120, 36)
SMALL = (80, 24)  # the order book once more, compact
WIDE = (200, 50)  # and once more on a large terminal: deeper ladder, today's chart
ROUNDS = 4  # bcrypt cost of the demo users: fast, and never a real password
PASSWORDS = {user.username: user.password for user in demo.USERS}
TRADER = "alice"
_EPOCH = dt.datetime(1970, 1, 1)


# --- a fixed world -------------------------------------------------------------------


@contextlib.contextmanager
def deterministic(seed: int = SEED) -> Iterator[None]:
    """Row ids, API key secrets and the client address the same on every run.

    Ids (UUID v7) take their time from the frozen clock and their random bits from a
    seeded generator; key prefixes and secrets come from another one, so they do not
    shift when some other row is added first.
    """
    id_bytes, key_bytes = _random_bytes(seed), _random_bytes(seed + 1)
    fixed_time = types.SimpleNamespace(
        time_ns=lambda: (clock.now() - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    )
    fixed_secrets = types.SimpleNamespace(
        token_hex=lambda n: key_bytes(n).hex(),
        token_urlsafe=lambda n: base64.urlsafe_b64encode(key_bytes(n)).rstrip(b"=").decode(),
    )
    environ = {k: v for k, v in os.environ.items() if k != "SSH_CLIENT"}
    with (
        mock.patch.object(ids, "os", types.SimpleNamespace(urandom=id_bytes)),
        mock.patch.object(ids, "time", fixed_time),
        mock.patch.object(keys, "secrets", fixed_secrets),
        mock.patch.dict(os.environ, environ, clear=True),
    ):
        yield


def _random_bytes(seed: int) -> Callable[[int], bytes]:
    rng, lock = random.Random(seed), threading.Lock()

    def draw(n: int) -> bytes:
        with lock:  # worker threads draw too
            return rng.randbytes(n)

    return draw


def settings_for(path: Path) -> Settings:
    """The default settings on the SQLite file `path`, whatever the environment, a .env
    file or the user's config file say (every setting is given, so none is read)."""
    given = {option.name: option.default for option in OPTIONS}
    given["BCRYPT_ROUNDS"] = str(ROUNDS)
    return load_settings(db=f"sqlite://{path}", cwd=path.parent, environ=given)


def build_dataset(folder: Path, *, seed: int = SEED, now: dt.datetime = NOW) -> Path:
    """The demo community as of `now` in `folder/demo.db`, plus two open orders and
    three API keys of alice's; returns the file. Same arguments, same rows."""
    path = folder / "demo.db"
    runtime = bind(settings_for(path))
    with deterministic(seed), clock.frozen(now) as frozen, runtime.database.connection_context():
        migrations.migrate(runtime.database, runtime.settings)
        demo.seed(seed_value=seed, days=30, now=now, rounds=ROUNDS)
        _alices_keys(frozen, now)
        _alices_orders(frozen, now)
        _alices_alerts(frozen, now)
    runtime.database.close()
    return path


def _alices_orders(frozen: clock.frozen, now: dt.datetime) -> None:
    """Two resting orders on levels of the book near the spread (the second ask, the
    third bid), so that the ladder marks them and "My open orders" has rows."""
    alice = demo.trader(next(m for m in demo.COMMUNITY if m.address == "home-01"))
    fair, book = demo.fair_price(now), market_book.book(depth=3)
    ask = book.asks[1].price if len(book.asks) > 1 else fair + Decimal("0.0350")
    bid = book.bids[2].price if len(book.bids) > 2 else fair - Decimal("0.0400")
    for second, side, amount, price in ((30, "sell", "6.50", ask), (40, "buy", "4.00", bid)):
        frozen.set(_after_seed(now, second))
        expires = now + dt.timedelta(hours=20)
        request = OrderRequest(side, Decimal(amount), price, "gtc", expires)
        place_order(alice, request)


def _alices_keys(frozen: clock.frozen, now: dt.datetime) -> None:
    """Keys of each status: used, never used, revoked."""
    alice = Actor(label="demo:keys", role="trader", username=TRADER, prosumer_address="home-01")
    made = {}
    for second, name, permissions, expiry in (
        (5, "old laptop script", ("read",), "30d"),
        (10, "home battery controller", ("read", "trade"), "90d"),
        (15, "price dashboard", ("read",), "never"),
    ):
        frozen.set(_after_seed(now, second))
        expires = keys.parse_expiry(expiry, clock.now())
        made[name] = keys.create_key(alice, TRADER, name, permissions, expires)
    frozen.set(_after_seed(now, 20))
    keys.revoke(alice, made["old laptop script"].info.prefix or "")
    frozen.set(_after_seed(now, 50))
    keys.verify(made["home battery controller"].key)
    frozen.set(now)


def _alices_alerts(frozen: clock.frozen, now: dt.datetime) -> None:
    """Two price alerts waiting and one that fired in the day's fall (made as a row: the
    seed's trades are all in already, and `add` refuses a level already passed)."""
    user = users.get(TRADER)
    PriceAlert.create(
        user=user.id,
        direction="below",
        price=Decimal("0.1450"),
        created_at=now.replace(hour=8, minute=5),
        fired_at=now.replace(hour=13, minute=12),
        fired_price=Decimal("0.1441"),
    )
    alice = Actor(
        label="demo:alerts",
        role="trader",
        user_id=user.id,
        username=TRADER,
        prosumer_address="home-01",
    )
    frozen.set(_after_seed(now, 55))
    alerts.add(alice, "above", Decimal("0.1700"))
    alerts.add(alice, "below", Decimal("0.1400"))
    frozen.set(now)


def _after_seed(now: dt.datetime, second: int) -> dt.datetime:
    """A moment in the last minute before `now`: the seed's last rows are at now - 1
    minute, and the audit log lists rows in the order they were written."""
    return now - dt.timedelta(minutes=1) + dt.timedelta(seconds=second)


def empty_database(folder: Path) -> Path:
    """A migrated SQLite file without users: the first-run screen."""
    path = folder / "empty.db"
    runtime = bind(settings_for(path))
    with runtime.database.connection_context():
        migrations.migrate(runtime.database, runtime.settings)
    runtime.database.close()
    return path


def app_on(path: Path) -> tuple[EnergyApp, Runtime]:
    """The real app on the SQLite file `path` (bound as the models' database)."""
    runtime = bind(settings_for(path))
    return make_app(runtime.settings, runtime.url), runtime


# --- driving the app -----------------------------------------------------------------


async def settle(pilot: Pilot) -> None:
    """Let every worker finish and its results reach the screen (three calm rounds:
    a result may start another load)."""
    calm = 0
    for _ in range(200):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive load replaced by a newer one
            calm = 0
            continue
        await pilot.pause()
        calm += 1
        if calm == 3:
            return
    raise RuntimeError("the app kept starting workers")


async def wait_for(pilot: Pilot, ready: Callable[[], bool], what: str) -> None:
    for _ in range(250):
        if ready():
            return
        await pilot.pause(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


async def log_in(pilot: Pilot, username: str) -> None:
    """Log in through the login screen as a demo user."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LoginScreen), "the login screen")
    await pilot.pause()  # its on_mount focuses the username field
    screen = pilot.app.screen
    screen.query_one("#username", Input).value = username
    password = screen.query_one("#password", Input)
    password.value = PASSWORDS[username]
    password.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderBookScreen), "the login")
    await settle(pilot)


async def log_out(pilot: Pilot) -> None:
    app: EnergyApp = pilot.app  # type: ignore[assignment]
    app.action_logout()
    await settle(pilot)


async def still(pilot: Pilot) -> None:
    """Ready for a picture: data loaded, no toasts, cursors that do not blink."""
    app = pilot.app
    if isinstance(app, EnergyApp):
        # Read the market's change marker now: its first reading (a second after the
        # start) makes every screen reload, which could land in the middle of a picture.
        app.poll_market()
    await settle(pilot)
    await _ladders_read_to_their_height(pilot)
    await _without_toasts(pilot)
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _ladders_read_to_their_height(pilot: Pilot) -> None:
    """Each order book's ladder filled to the height its layout gave it. A change of the
    ticket (an amend's lines) resizes the ladder a frame or more after the workers went
    calm, and its `Resized` then starts a deeper read: under load a picture caught the
    ladder before that read, one level short a side."""
    await pilot.pause(0.1)  # a frame for the layout that the last results caused
    for screen in pilot.app.screen_stack:
        if isinstance(screen, OrderBookScreen) and screen.snapshot is not None:
            await wait_for(pilot, functools.partial(_read_to_height, screen), "the ladder's read")
    await settle(pilot)


def _read_to_height(screen: OrderBookScreen) -> bool:
    return screen.depth_read >= min(DEPTH, screen.query_one(PriceLadder).fits())


async def _without_toasts(pilot: Pilot) -> None:
    """No toast on any screen of the stack. `notify` only posts a message: under load a
    login's toast could arrive after the notifications were cleared, and a picture
    caught it. Let the app handle what was posted before clearing, and remove what
    still shows until none is left."""
    app = pilot.app
    for _ in range(250):
        handled = asyncio.Event()
        app.call_later(handled.set)  # after the messages posted before it (one queue)
        await handled.wait()
        app.clear_notifications()
        await pilot.pause()
        shown = [toast for screen in app.screen_stack for toast in screen.query(Toast)]
        if not shown:
            return
        for toast in shown:
            await toast.remove()
    raise RuntimeError("timed out waiting for the toasts to clear")


# --- the tour ------------------------------------------------------------------------

Shoot = Callable[[str], Awaitable[None]]


@dataclasses.dataclass
class Camera:
    """Writes `<out>/<name>.svg` of what the app shows."""

    out: Path
    written: list[Path] = dataclasses.field(default_factory=list)

    def take(self, pilot: Pilot) -> Shoot:
        async def shoot(name: str) -> None:
            await still(pilot)
            svg = pilot.app.export_screenshot(title=f"energy-tui: {name.replace('_', ' ')}")
            path = self.out / f"{name}.svg"
            path.write_text(preserve_spaces(svg), encoding="utf-8")
            self.written.append(path)

        return shoot


def preserve_spaces(svg: str) -> str:
    """Tell converters (rsvg-convert, Inkscape) to keep runs of spaces in text."""
    if "xml:space=" in svg.split(">", 1)[0]:
        return svg
    return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)


async def first_run_tour(pilot: Pilot, shoot: Shoot) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FirstRunScreen), "first run")
    await shoot("first_run")


async def trader_tour(pilot: Pilot, shoot: Shoot) -> None:
    """Alice: login, order book with a ticket, cancel, trades, stats, account, keys."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LoginScreen), "the login screen")
    await pilot.pause()
    pilot.app.screen.query_one("#username", Input).value = TRADER
    await pilot.press("enter")  # on to the password field
    await pilot.press(*"secret-pw")
    await shoot("login")
    pilot.app.screen.query_one("#password", Input).value = PASSWORDS[TRADER]
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, OrderBookScreen), "the login")
    await book_with_ticket(pilot)
    await shoot("order_book")
    await pilot.press("escape", "o", "c")  # my orders, cancel the selected one
    await shoot("cancel_order")
    await pilot.press("n")  # no, keep it
    await fat_finger(pilot)
    await shoot("order_guard")
    await pilot.press("n", "escape")  # go back, then leave the ticket
    await market_order(pilot)
    await shoot("order_market")
    await pilot.press("escape", "h")  # my orders: the history
    await shoot("order_history")
    await pilot.press("h", "x")  # back to the open ones; cancel them all?
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, Confirm), "the question")
    await shoot("cancel_all")
    await pilot.press("n")
    await pilot.press("question_mark")
    await shoot("help")
    await pilot.press("escape", "f9")
    await settle(pilot)
    await shoot("alerts")
    await pilot.press("escape")
    for key, name in (("f2", "trades"), ("f3", "stats"), ("f4", "account"), ("f5", "keys")):
        await pilot.press(key)
        await shoot(name)
    await pilot.press("n")
    await settle(pilot)
    pilot.app.screen.query_one("#name", Input).value = "trading bot"
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, KeyReveal), "the new key")
    await shoot("key_created")
    await pilot.press("enter")


async def book_with_ticket(pilot: Pilot) -> None:
    """A buy at the best ask, taken from the ladder (`l`, Enter on the level the cursor
    starts on) with 5 kWh typed, so the preview shows a fill."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, OrderBookScreen) and screen.snapshot is not None
    await pilot.press("l", "enter")
    await pilot.press(*"5")


async def fat_finger(pilot: Pilot) -> None:
    """The ticket's price typed ten times the market: the guard asks before placing."""
    price = pilot.app.screen.query_one("#price", Input)
    price.value = "2.5000"
    price.focus()
    await settle(pilot)
    await pilot.press("enter")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmOrder), "the guard's question")
    await wait_for(pilot, lambda: app.screen.focused is not None, "the question's focus")


async def market_order(pilot: Pilot) -> None:
    """A market buy of 20 kWh (F10 three times: IOC, FOK, market) capped just above the
    best ask, below alice's own sell: the walk stops at the cap."""
    screen = pilot.app.screen
    assert isinstance(screen, OrderBookScreen) and screen.snapshot is not None
    best_ask = screen.snapshot.book.best_ask or Decimal("0.2000")
    screen.query_one("#price", Input).value = f"{best_ask + Decimal('0.0010'):.4f}"
    screen.query_one("#amount", Input).value = "20"
    await pilot.press("b", "f10", "f10", "f10")


async def admin_tour(pilot: Pilot, shoot: Shoot) -> None:
    await log_out(pilot)
    await log_in(pilot, "admin")
    await pilot.press("f6")
    tabs = (
        ("u", "admin_users"),
        ("p", "admin_prosumers"),
        ("l", "admin_audit"),
        ("t", "admin_rules"),
    )
    for key, name in tabs:
        await pilot.press(key)
        await shoot(name)


async def viewer_tour(pilot: Pilot, shoot: Shoot) -> None:
    await log_out(pilot)
    await log_in(pilot, "viewer")
    await shoot("viewer_book")


async def take_all(out: Path, size: tuple[int, int], work: Path) -> list[Path]:
    camera = Camera(out)
    app, runtime = app_on(empty_database(work))
    async with app.run_test(size=size) as pilot:
        await first_run_tour(pilot, camera.take(pilot))
    runtime.database.close()
    dataset = build_dataset(work)
    app, runtime = app_on(dataset)
    with deterministic(SEED + 100):
        async with app.run_test(size=size) as pilot:
            shoot = camera.take(pilot)
            await trader_tour(pilot, shoot)
            await admin_tour(pilot, shoot)
            await viewer_tour(pilot, shoot)
    runtime.database.close()
    for other, name in ((SMALL, "order_book_80x24"), (WIDE, "order_book_200x50")):
        if size != other:
            app, runtime = app_on(dataset)
            async with app.run_test(size=other) as pilot:
                await log_in(pilot, TRADER)
                await book_with_ticket(pilot)
                await camera.take(pilot)(name)
            runtime.database.close()
    return camera.written


@contextlib.contextmanager
def private_dirs(root: Path) -> Iterator[None]:
    """Keep the user's config (theme), data and logs out of the pictures."""
    with (
        mock.patch.object(locations, "config_dir", lambda: root / "config"),
        mock.patch.object(locations, "data_dir", lambda: root / "data"),
        mock.patch.object(locations, "log_dir", lambda: root / "log"),
    ):
        yield


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 120x36") from None
    if width < 40 or height < 12:
        raise argparse.ArgumentTypeError("the smallest size is 40x12")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="output folder")
    parser.add_argument(
        "--size", type=parse_size, default=SIZE, help="terminal WIDTHxHEIGHT (default 120x36)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="energy-tui-shots-") as temp:
        work = Path(temp)
        with private_dirs(work), clock.frozen(NOW):
            written = asyncio.run(take_all(args.out, args.size, work))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
