"""`energy-tui demo` (a live simulated market) and `energy-tui serve` (in a browser)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import ipaddress
import os
import shlex
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

from energy_tui import clock, locations
from energy_tui.cli.output import print_table
from energy_tui.config import Settings, load_settings
from energy_tui.db import migrations
from energy_tui.db.models import db
from energy_tui.db.urls import DatabaseURL, parse_url
from energy_tui.errors import ConfigError, ValidationError
from energy_tui.runtime import Runtime, bind
from energy_tui.services import demo, users


def demo_file() -> Path:
    return locations.demo_database_file()


def demo_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, database_url=f"sqlite://{demo_file()}")


def prepare(args: argparse.Namespace, *, announce: bool = True) -> tuple[Runtime, list]:
    """Bind the demo database, seeding it when new; return it and the demo users."""
    locations.private_dir(locations.data_dir())
    if args.reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{demo_file()}{suffix}").unlink(missing_ok=True)
    fresh = not demo_file().exists()
    runtime = bind(demo_settings(load_settings()))
    with db.connection_context():
        migrations.migrate(runtime.database, runtime.settings)
        if fresh or users.count() == 0:
            if announce:
                print(f"Seeding the demo community (seed {args.seed}) in {demo_file()} ...")
            demo.seed(
                seed_value=args.seed,
                now=clock.now(),
                rounds=runtime.settings.bcrypt_rounds,
            )
    return runtime, list(demo.USERS)


def _print_users(people: list[demo.DemoUser]) -> None:
    print("Demo users (this demo database only):")
    print_table(
        [dataclasses.asdict(u) for u in people], ["username", "password", "role", "prosumer"]
    )


HINT_WIDTH = 50  # the login form's inner width at 80 columns


def hint(people: list[demo.DemoUser]) -> str:
    """The login screen's reminder of the demo's accounts (demo passwords, not secrets),
    in two lines, so that it fits under the form in an 80x24 terminal, an error line
    included: the passwords follow one pattern. (A table, should they ever not.)"""
    if all(u.password == f"demo-{u.username}-pass" for u in people):
        roles: dict[str, list[str]] = {}
        for u in sorted(people, key=lambda u: u.role != "trader"):  # traders first
            roles.setdefault(u.role, []).append(u.username)
        names = [
            ", ".join(users) + (f" ({role}s)" if len(users) > 1 else "")
            for role, users in roles.items()
        ]
        text = f"Demo users: {', '.join(names)}; password demo-<name>-pass"
        return textwrap.fill(text, HINT_WIDTH)
    name = max(len(u.username) for u in people)
    lines = [f"{u.username:<{name}}  {u.password}  {u.role}" for u in people]
    return "Demo users (user, password, role):\n" + "\n".join(lines)


def _bots(args: argparse.Namespace, runtime: Runtime, spare: Iterable[str]) -> demo.Bots:
    """The bots, sparing `spare` and whoever is logged in."""
    return demo.Bots(
        args.bots,
        float(args.speed),  # parsed exactly as typed; the bots only time their steps by it
        args.seed,
        spare=spare,
        session_lifetime=dt.timedelta(hours=runtime.settings.session_max_hours),
    )


def run_demo(args: argparse.Namespace) -> int:
    runtime, people = prepare(args)
    login = None
    if args.as_user:
        match = [u for u in people if u.username == args.as_user]
        if not match:
            names = ", ".join(u.username for u in people)
            raise ValidationError(f"no demo user {args.as_user!r}: use one of {names}")
        login = (match[0].username, match[0].password)
    _print_users(people)
    spare = [u.prosumer for u in people if u.username == args.as_user and u.prosumer]
    bots = _bots(args, runtime, spare)
    bots.start()
    from energy_tui.tui.app import make_app

    try:
        app = make_app(runtime.settings, runtime.url, auto_login=login, login_hint=hint(people))
        app.run()
    finally:
        bots.stop()
    return 0


def run_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise ConfigError("serving needs the web extra: pip install 'energy-tui[web]'") from None
    command = [sys.executable, "-m", "energy_tui"]
    bots = None
    if args.demo:
        args.reset, args.seed, args.bots, args.speed = False, 7, 4, 1.0
        runtime, people = prepare(args)
        _print_users(people)
        bots = _bots(args, runtime, ())
        bots.start()
        command += ["demo", "--bots", "0"]
        shown = runtime.url
    else:
        shown = _hand_over_database(args)
    print(f"Serving energy-tui on http://{args.host}:{args.port} (database {shown})")
    print("The in-app login is the only gate: put an authenticating proxy in front of it.")
    if not is_loopback(args.host):
        print(
            f"WARNING: {args.host} is not a loopback address: anyone who can reach this "
            f"machine on port {args.port} gets the login screen."
        )
    try:
        Server(shlex.join(command), host=args.host, port=args.port, title="energy-tui").serve()
    finally:
        if bots is not None:
            bots.stop()
    return 0


def _hand_over_database(args: argparse.Namespace) -> DatabaseURL:
    """Give the app processes the database of --db through the environment, which they
    inherit: on their command line `ps` would show its password to every local user.
    Returns the URL to show (its password masked)."""
    settings = load_settings(getattr(args, "db", None))
    url = parse_url(settings.effective_database_url)  # a bad URL stops here, not per tab
    if getattr(args, "db", None):
        os.environ["DATABASE_URL"] = args.db  # --db outranks the environment: same choice
    return url


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything
