"""Launch: `energy-tui` paints its login screen before it loads the database layer, then
opens the database behind it (a SQLite file is migrated; a broken setting ends the app
with the reason)."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import Input

from energy_tui.cli import tui_arguments, tui_cmd
from energy_tui.db import migrations
from energy_tui.db.models import db
from energy_tui.tui.bridge import Bridge
from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen
from tests.tui_identity_support import SIZE, settle, sync, type_text

# A fresh interpreter runs `energy-tui --db sqlite:///PATH` headless and reports which
# heavy modules were imported when the login screen first painted, and after the app
# had opened the database (then it waits for the first-run form a new file brings).
LAUNCH = textwrap.dedent(
    """
    import asyncio, json, sys
    from energy_tui import cli
    from energy_tui.cli import tui_cmd
    from energy_tui.tui.screens.login import FirstRunScreen, LoginScreen

    HEAVY = ("peewee", "psycopg", "pymysql", "plotext", "energy_tui.services.market")
    app = tui_cmd.app_for(cli.tui_arguments(["--db", "sqlite://" + sys.argv[1]]))
    seen = {}
    display = app._display

    def spy(screen, renderable):
        if isinstance(screen, LoginScreen) and "first_frame" not in seen:
            seen["first_frame"] = sorted(m for m in HEAVY if m in sys.modules)
        display(screen, renderable)

    app._display = spy

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.to_thread(app._loaded.wait, 60)
            seen["loaded"] = sorted(m for m in HEAVY if m in sys.modules)
            # a new file has no users: wait for the first-run form, mounted and focused
            while not (isinstance(app.screen, FirstRunScreen) and app.focused is not None):
                await pilot.pause(0.02)

    asyncio.run(main())
    print(json.dumps(seen))
    """
)


def test_the_login_screen_paints_before_the_database_layer_loads(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["first_frame"] == []
    assert {"peewee", "energy_tui.services.market"} <= set(seen["loaded"])
    assert path.exists()  # and then the app created the file behind the login screen


def test_bare_command_arguments_take_the_fast_path_and_the_rest_do_not() -> None:
    assert tui_arguments([]) == argparse.Namespace()
    assert tui_arguments(["--db", "sqlite:x.db"]) == argparse.Namespace(db="sqlite:x.db")
    for argv in (["user", "list"], ["--help"], ["--version"], ["--db"], ["--bogus"]):
        assert tui_arguments(argv) is None, argv


@sync
async def test_a_new_sqlite_file_is_migrated_and_offers_the_first_run(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    app = tui_cmd.app_for(argparse.Namespace(db=f"sqlite://{path}"))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LoginScreen)
        await type_text(pilot, "root")  # typed while the database opens: kept
        for _ in range(200):
            if isinstance(app.screen, FirstRunScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, FirstRunScreen)
        assert app.screen.query_one("#username", Input).value == "root"
        # (a bridge without the app's session guard: nobody is logged in)
        unguarded = Bridge(app.url)
        state = await asyncio.to_thread(unguarded.call, lambda: migrations.status(db.obj))
        assert state.applied and not state.pending


@sync
async def test_a_sqlite_file_in_a_missing_folder_ends_the_app_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no-such-folder" / "x.db"
    app = tui_cmd.app_for(argparse.Namespace(db=f"sqlite://{path}"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 2
    # once the terminal is restored; the message is wrapped to the terminal's width, also
    # inside a long path at a '-' (as under pytest-xdist's longer tmp_path): no spaces
    printed = "".join(capsys.readouterr().err.split())
    assert "".join(f"folder {path.parent} does not exist".split()) in printed
    assert not path.parent.exists()


@sync
async def test_a_start_that_fails_unexpectedly_ends_the_app_instead_of_a_waiting_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from energy_tui.services import users

    def broken() -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(users, "count", broken)
    app = tui_cmd.app_for(argparse.Namespace(db=f"sqlite://{tmp_path / 'x.db'}"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert app.return_code == 1
    assert "could not start" in capsys.readouterr().err


# The database never answers (the SQLite "file" is a folder); someone types a login,
# which waits for the database, then quits.
QUIT_WHILE_DOWN = textwrap.dedent(
    """
    import asyncio, sys
    from energy_tui import cli
    from energy_tui.cli import tui_cmd

    app = tui_cmd.app_for(cli.tui_arguments(["--db", "sqlite://" + sys.argv[1]]))

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            while app.db_online:
                await pilot.pause(0.05)
            await pilot.press(*"alice", "enter", *"pw-123456", "enter")
            await pilot.pause(0.3)
            await pilot.press("ctrl+q")

    asyncio.run(main())
    print("exited", app.return_code)
    """
)


def test_quitting_while_the_database_is_down_ends_the_process(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-file.db"
    folder.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", QUIT_WHILE_DOWN, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,  # a worker left waiting for the database would hold the process open
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["exited", "0"]
