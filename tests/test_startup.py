"""What a start pays for (issue 15): `energy-tui --help`, and the parser of every command,
import no database layer and no service; a SQLite command imports no database driver
and no Textual; a PostgreSQL/MySQL URL loads its own driver only."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

DRIVERS = ("psycopg", "psycopg2", "psycopg_binary", "pymysql", "MySQLdb")
FRONT_END_ONLY = ("textual", "rich", "plotext", "energy_tui.tui", "energy_tui.api")
# What only running a command needs: the database layer, passwords, settings, the log.
RUN_ONLY = ("peewee", "playhouse", "bcrypt", "sqlite3", "energy_tui.db.models")
# The one module of services/ that parsing uses: the input checks (no Peewee).
PARSING_SERVICES = ["energy_tui.services", "energy_tui.services.validation"]

RUN = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from energy_tui.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            status = main(sys.argv[1:])
        except SystemExit as exc:
            status = exc.code
    roots = sorted({name.split(".")[0] for name in sys.modules})
    ours = sorted(name for name in sys.modules if name.startswith("energy_tui."))
    others = sorted(name for name in sys.modules if "." in name and name not in ours)
    print(json.dumps(
        {"status": status, "roots": roots, "ours": ours, "others": others, "out": out.getvalue()}
    ))
    """
)


def imported_by(*argv: str, cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", RUN, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={"HOME": str(cwd), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def loaded(seen: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    modules = set(seen["roots"]) | set(seen["ours"])
    return sorted(name for name in names if name in modules)


def services(seen: dict[str, Any]) -> list[str]:
    return [name for name in seen["ours"] if name.split(".")[:2] == ["energy_tui", "services"]]


def test_help_imports_no_driver_and_no_front_end(tmp_path: Path) -> None:
    seen = imported_by("--help", cwd=tmp_path)
    assert seen["status"] == 0 and "order" in str(seen["out"])
    assert loaded(seen, DRIVERS) == []
    assert loaded(seen, FRONT_END_ONLY) == []


def test_help_imports_no_database_layer_no_bcrypt_and_no_service(tmp_path: Path) -> None:
    seen = imported_by("--help", cwd=tmp_path)
    assert seen["status"] == 0 and "order" in str(seen["out"])
    assert loaded(seen, RUN_ONLY) == []
    assert services(seen) == PARSING_SERVICES
    assert not any(
        name.endswith("_cmd") and name != "energy_tui.cli.tui_cmd" for name in seen["ours"]
    )
    assert not (tmp_path / ".local").exists()  # nor sets up the log file: nothing runs


EVERY_HELP = textwrap.dedent(
    """
    import argparse, json, sys
    from energy_tui.cli.commands import build_parser

    def walk(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from walk(child)

    texts = [parser.format_help() for parser in walk(build_parser())]
    roots = sorted({name.split(".")[0] for name in sys.modules})
    ours = sorted(name for name in sys.modules if name.startswith("energy_tui."))
    print(json.dumps({"helps": len(texts), "roots": roots, "ours": ours}))
    """
)


def test_the_parser_of_every_command_imports_no_service(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", EVERY_HELP], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["helps"] > 50
    assert loaded(seen, RUN_ONLY + DRIVERS + FRONT_END_ONLY) == []
    assert services(seen) == PARSING_SERVICES


def test_a_sqlite_command_imports_no_driver(tmp_path: Path) -> None:
    seen = imported_by("--db", f"sqlite:///{tmp_path / 'x.db'}", "book", cwd=tmp_path)
    assert seen["status"] == 0
    assert "energy_tui.services.market.book" in seen["ours"]  # it did run
    assert loaded(seen, DRIVERS) == []
    assert loaded(seen, FRONT_END_ONLY) == []


# What a market read does not use: the migration steps (on a database that is up to date),
# the key check's chain (no key given), the export's csv, other commands' services.
NOT_FOR_A_BOOK = (
    "bcrypt",
    "csv",
    "tomllib",
    "playhouse.migrate",
    "energy_tui.services.keys",
    "energy_tui.services.users",
    "energy_tui.services.alerts",
    "energy_tui.services.demo",
    "energy_tui.services.market.export",
    "energy_tui.services.market.invariants",
)


def test_book_on_an_up_to_date_sqlite_file_imports_only_what_it_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert imported_by("--db", url, "book", cwd=tmp_path)["status"] == 0  # migrates it
    seen = imported_by("--db", url, "book", cwd=tmp_path)
    assert seen["status"] == 0 and "best bid" in seen["out"]
    modules = set(seen["roots"]) | set(seen["ours"]) | set(seen["others"])
    assert sorted(modules & set(NOT_FOR_A_BOOK)) == []
    steps = [name for name in seen["ours"] if name.startswith("energy_tui.db.migrations.m")]
    assert steps == []


OPEN = textwrap.dedent(
    """
    import sys
    from energy_tui.db.connect import open_database
    import peewee
    from energy_tui.db.urls import parse_url

    assert peewee.psycopg is None and peewee.mysql is None
    assert not {"psycopg", "pymysql"} & set(sys.modules)
    postgres = open_database(parse_url("postgresql://u@127.0.0.1:1/x"))
    assert "pymysql" not in sys.modules
    assert isinstance(postgres._adapter, peewee.Psycopg3Adapter)
    assert peewee.Psycopg3Adapter.txn_idle is not None
    open_database(parse_url("mysql://u@127.0.0.1:1/x"))
    print(peewee.psycopg.__name__, peewee.mysql.__name__)
    """
)


def test_a_server_url_loads_its_own_driver_when_opened(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    pytest.importorskip("pymysql")
    result = subprocess.run(
        [sys.executable, "-c", OPEN], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["psycopg", "pymysql"]
