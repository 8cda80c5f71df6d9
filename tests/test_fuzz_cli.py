"""Fuzzing the command line: arbitrary text and bytes in the arguments, the .env file and
config.toml. Every run ends with exit status 0, or 2 and one line saying why with nothing
written; never 1 (an unexpected error) and never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_tui import locations
from energy_tui.config import OPTIONS
from energy_tui.db.urls import DatabaseURL, parse_url
from energy_tui.errors import ConfigError
from tests.key_support import key_file

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBERISH = st.from_regex(r"[-+]?[0-9]{0,14}(\.[0-9]{0,6})?([eE][-+]?[0-9]{1,4})?", fullmatch=True)
TRICKY = st.sampled_from(
    ["-1e5", "--", "-", "\u00b2", "-inf", "nan", "0", "1", "0.5", "99999999999", "1e400",
     "buy", "sell", "h1", "-1", ".5", "1_0", "\u0661\u0660", "", " ", "-h", "--json",
     "2026-01-31", "7d", "30m", "\x00", "a\nb"]
)  # fmt: skip
UNDECODABLE = st.binary(min_size=1, max_size=8).map(os.fsdecode)  # bytes as argv holds them
ARG = st.one_of(st.text(max_size=12), UNDECODABLE, NUMBERISH, TRICKY)

KEY_FILE = "{key_file}"  # the path of a file holding alice's key
TEMPLATES = [
    ["book", "--depth", ARG],
    ["trades", "list", "--limit", ARG, "--since", ARG],
    ["trades", "list", "--until", ARG, "--side", ARG, "--api-key-file", KEY_FILE],
    ["stats", "show", "--days", ARG],
    ["audit", "list", "--limit", ARG, "--since", ARG],
    ["prosumer", "add", ARG, "--name", ARG, "--kind", ARG],
    ["prosumer", "deposit", "h1", ARG],
    ["prosumer", "withdraw", ARG, ARG],
    ["prosumer", "meter", "h1", "--generated", ARG, "--consumed", ARG],
    ["prosumer", "show", ARG],
    ["user", "disable", ARG],
    ["user", "set-role", ARG, ARG],
    ["key", "list", "--user", ARG],
    ["order", "place", ARG, ARG, ARG, "--api-key-file", KEY_FILE],
    ["order", "place", "--api-key-file", KEY_FILE, "buy", "--", ARG, ARG],
    ["order", "place", "sell", "1", "0.5", "--expires", ARG, "--api-key-file", KEY_FILE],
    ["order", "preview", ARG, ARG, ARG, "--api-key-file", KEY_FILE],
    ["order", "cancel", ARG, "--api-key-file", KEY_FILE],
]
SAFE_COMMANDS = [["book"], ["trades", "list"], ["stats", "show"], ["audit", "list"],
                 ["prosumer", "list"], ["user", "list"], ["key", "list"], ["db", "status"],
                 ["market", "check"]]  # fmt: skip


def fill(template: list) -> st.SearchStrategy[list[str]]:
    return st.tuples(*(part if isinstance(part, st.SearchStrategy) else st.just(part)
                       for part in template)).map(list)  # fmt: skip


ARGVS = st.one_of(
    st.sampled_from(TEMPLATES).flatmap(fill),
    # Anything after a command name, options included.
    st.tuples(st.sampled_from(SAFE_COMMANDS), st.lists(ARG, max_size=5)).map(
        lambda pair: [*pair[0], *pair[1]]
    ),
)


@pytest.fixture
def market(cli, tmp_path: Path):
    """A SQLite market: prosumer h1 with 100 WATT and 10 kWh, trader alice with a key."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"

    def run(*args: str, stdin: str | None = None):
        return cli("--db", url, *args, stdin=stdin)

    for args in (
        ("prosumer", "add", "h1", "--name", "House"),
        ("prosumer", "deposit", "h1", "100"),
        ("prosumer", "meter", "h1", "--generated", "10"),
    ):
        assert run(*args).code == 0
    user = ("user", "add", "alice", "--email", "a@example.org", "--prosumer", "h1")
    assert run(*user, "--password-stdin", stdin="a long enough password\n").code == 0
    created = run(
        "key", "create", "--user", "alice", "--name", "f", "--perm", "read,trade", "--json"
    )
    assert created.code == 0, created
    return run, tmp_path / "fuzz.db", json.loads(created.out)["key"]


def contents(path: Path) -> list[tuple]:
    """Every row of every table; a key's `last_used` aside (using a key is not a change)."""
    with sqlite3.connect(path) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        rows: list[tuple] = []
        for table in sorted(tables):
            names = [col[1] for col in conn.execute(f'PRAGMA table_info("{table}")')]
            shown = ", ".join(f'"{n}"' if n != "last_used" else "NULL" for n in names)
            rows += [(table, *row) for row in conn.execute(f'SELECT {shown} FROM "{table}"')]
    conn.close()
    return sorted(rows, key=repr)


def check_outcome(result, before: list[tuple], after: list[tuple]) -> None:
    assert result.code in (0, 2), result
    assert "Traceback" not in result.err + result.out
    if result.code == 2:
        assert result.err.startswith("energy-tui: "), result
        assert result.err.count("\n") == 1, result
        assert after == before, result  # nothing written


@FUZZ
@given(argv=ARGVS)
def test_any_arguments_end_in_exit_0_or_2_with_one_line_and_nothing_written(market, argv):
    run, path, key = market
    path_of_key = key_file(key)[1]
    argv = [arg.replace(KEY_FILE, path_of_key) for arg in argv]
    before = contents(path)
    result = run(*argv)
    check_outcome(result, before, contents(path))


def dotenv_lines() -> st.SearchStrategy[bytes]:
    names = st.sampled_from([option.name for option in OPTIONS] + ["JWT_SECRET", "export X"])
    value = st.one_of(st.text(max_size=16), TRICKY, NUMBERISH)
    line = st.tuples(names, st.sampled_from(["=", " = ", "=='", ""]), value).map(
        lambda parts: "".join(parts)
    )
    text = st.lists(line, max_size=4).map("\n".join)
    encoded = st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf"]), text).map(
        lambda pair: pair[0] + pair[1].encode("utf-8", "surrogatepass")
    )
    return st.one_of(encoded, st.binary(max_size=40))


def toml_documents() -> st.SearchStrategy[bytes]:
    key = st.sampled_from([option.name.lower() for option in OPTIONS] + ["url", "[db]", "x.y"])
    value = st.one_of(
        st.integers(-(10**15), 10**15).map(str),
        st.text(max_size=12).map(lambda text: '"' + text.replace("\\", "/") + '"'),
        st.sampled_from(["true", "1.5", "[1, 2]", "{a = 1}", "nan", '"\\u0000"', "2026-01-01"]),
    )
    line = st.tuples(key, value).map(lambda pair: f"{pair[0]} = {pair[1]}")
    text = st.lists(line, max_size=4).map("\n".join).map(lambda text: text.encode())
    return st.one_of(text, st.binary(max_size=40))


@FUZZ
@given(dotenv=dotenv_lines(), config=toml_documents())
def test_any_settings_files_end_in_exit_0_or_2_with_one_line_and_nothing_written(
    market, dotenv, config
):
    run, path, _ = market
    (Path.cwd() / ".env").write_bytes(dotenv)
    config_file = locations.config_file()
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_bytes(config)
    before = contents(path)
    try:
        result = run("prosumer", "deposit", "h1", "1")
    finally:
        (Path.cwd() / ".env").unlink()
        config_file.unlink()
    check_outcome(result, before, contents(path))


@settings(max_examples=300, deadline=None, database=None)
@given(raw=st.one_of(st.text(max_size=40), st.text(max_size=40).map(lambda t: "postgresql://" + t),
                     st.text(max_size=40).map(lambda t: "mysql://u@h:1/d?" + t),
                     st.text(max_size=30).map(lambda t: "sqlite:" + t)))  # fmt: skip
def test_any_database_url_parses_or_is_refused_with_a_config_error(raw):
    try:
        url = parse_url(raw)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(url, DatabaseURL)
        assert url.backend == "sqlite" or 1 <= url.port <= 65535
