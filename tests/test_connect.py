"""Database URLs (DESIGN §2) -> Peewee databases, and what the CLI says when they fail."""

from __future__ import annotations

import os
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import peewee
import pytest

from energy_tui import locations
from energy_tui.db.connect import open_database
from energy_tui.db.urls import SUPPORTED, DatabaseURL, parse_url
from energy_tui.errors import ConfigError

SECRET = "hunter2-Sup3rSecret"


def test_sqlite_absolute_url_keeps_the_absolute_path(tmp_path):
    url = parse_url(f"sqlite:///{tmp_path}/abs.db")
    assert url.backend == "sqlite"
    assert url.path == str(tmp_path / "abs.db")


@pytest.mark.parametrize("raw", ["sqlite:./rel.db", "sqlite:rel.db", "sqlite://rel.db"])
def test_sqlite_relative_urls_resolve_against_the_working_directory(raw):
    url = parse_url(raw)
    assert url.backend == "sqlite"
    assert url.path == str(Path.cwd() / "rel.db")


def test_seed_note_sqlite_url_names_energy_trading_db_in_working_directory():
    assert parse_url("sqlite:./energy_trading.db").path == str(Path.cwd() / "energy_trading.db")


def test_sqlite_memory_url():
    url = parse_url("sqlite://:memory:")
    assert url.backend == "sqlite"
    assert url.path == ":memory:"


@pytest.mark.parametrize(
    ("raw", "backend", "port"),
    [
        ("postgresql://alice:pw@db.example.org:6543/energy", "postgres", 6543),
        ("postgres://alice:pw@db.example.org/energy", "postgres", 5432),
        ("mysql://alice:pw@db.example.org:3307/energy", "mysql", 3307),
        ("mysql+pymysql://alice:pw@db.example.org/energy", "mysql", 3306),
    ],
)
def test_server_urls_give_backend_host_port_user_password_and_database(raw, backend, port):
    url = parse_url(raw)
    assert (url.backend, url.host, url.port) == (backend, "db.example.org", port)
    assert (url.user, url.password, url.name) == ("alice", "pw", "energy")


def test_percent_encoded_password_is_decoded():
    url = parse_url("postgresql://alice:p%40ss%3Aword@localhost/energy")
    assert url.password == "p@ss:word"


@pytest.mark.parametrize(
    "raw",
    [
        "mongodb://admin@localhost:27017/energy",
        "redis://localhost/0",
        "http://localhost/energy",
        "energy_trading.db",
        "",
    ],
)
def test_unsupported_urls_raise_config_error_listing_accepted_forms(raw):
    with pytest.raises(ConfigError) as caught:
        parse_url(raw)
    assert SUPPORTED in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://alice:pw@/energy",
        "postgresql://alice:pw@localhost/",
        "mysql://alice:pw@localhost:notaport/energy",
        "mysql://alice:pw@localhost:99999/energy",
        "sqlite:",
    ],
)
def test_incomplete_or_malformed_urls_raise_config_error(raw):
    with pytest.raises(ConfigError):
        parse_url(raw)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"postgresql://alice:{SECRET}@db:5432/energy", "postgresql://alice:***@db:5432/energy"),
        (f"postgres://alice:{SECRET}@db/energy", "postgresql://alice:***@db:5432/energy"),
        (f"mysql://root:{SECRET}@db/energy", "mysql://root:***@db:3306/energy"),
        (f"mysql+pymysql://root:{SECRET}@db:3307/e", "mysql://root:***@db:3307/e"),
        ("postgresql://alice@db/energy", "postgresql://alice@db:5432/energy"),
    ],
)
def test_str_and_repr_of_url_mask_the_password(raw, shown):
    url = parse_url(raw)
    assert str(url) == shown
    assert SECRET not in str(url)
    assert SECRET not in repr(url)
    assert SECRET not in f"{url}"


def test_sqlite_database_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path):
    database = open_database(parse_url(f"sqlite:///{tmp_path}/x.db"), timeout=7)
    assert isinstance(database, peewee.SqliteDatabase)
    with database.connection_context():
        assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 7000


def test_memory_database_opens(tmp_path):
    database = open_database(parse_url("sqlite://:memory:"))
    with database.connection_context():
        assert database.execute_sql("SELECT 1 + 1").fetchone()[0] == 2
    assert not list(tmp_path.glob(":memory:*"))


def test_sqlite_connections_kept_serve_the_next_connect_of_any_thread_while_the_file_stays(
    tmp_path,
):
    """The TUI's bridge keeps SQLite connections for its next calls (issue 15): a
    connection closed is taken again by the next connect, in another thread too, but
    not once the file at the path was moved away and replaced; none after close_kept."""
    path = tmp_path / "kept.db"
    database = open_database(parse_url(f"sqlite:///{path}"))
    database.keep_connections()

    def connection_in(other_thread: bool) -> sqlite3.Connection:
        def run() -> sqlite3.Connection:
            with database.connection_context():
                return database.connection()

        if not other_thread:
            return run()
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(run).result()

    first = connection_in(False)
    first.execute("CREATE TABLE before (x)")
    assert connection_in(True) is first  # kept, and taken again by another thread
    os.replace(path, tmp_path / "aside.db")
    sqlite3.connect(path).close()  # a new, empty file at the path
    replaced = connection_in(False)
    assert replaced is not first
    assert replaced.execute("SELECT name FROM sqlite_master").fetchall() == []
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")  # the stale one was closed
    database.close_kept()
    with pytest.raises(sqlite3.ProgrammingError):
        replaced.execute("SELECT 1")
    last = connection_in(False)
    assert last is not replaced
    with pytest.raises(sqlite3.ProgrammingError):
        last.execute("SELECT 1")  # closed for real by its context: keeping stopped


def test_new_sqlite_file_is_created_owner_only(tmp_path):
    old_umask = os.umask(0)
    try:
        open_database(parse_url(f"sqlite:///{tmp_path}/new.db"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600


def test_sqlite_file_in_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        open_database(parse_url(f"sqlite:///{tmp_path}/missing/x.db"))
    assert "does not exist" in str(caught.value)
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("postgresql://u@127.0.0.1:1/d", peewee.PostgresqlDatabase),
        ("mysql://u@127.0.0.1:1/d", peewee.MySQLDatabase),
    ],
)
def test_server_databases_honour_pool_size_and_timeout(raw, kind):
    database = open_database(parse_url(raw), pool_size=3, timeout=7)
    assert isinstance(database, kind)
    assert database._max_connections == 3
    assert database._wait_timeout == 7
    assert database.connect_params["connect_timeout"] == 7


def test_postgresql_uses_psycopg3_and_native_text_array_permissions():
    database = open_database(parse_url("postgresql://u@127.0.0.1:1/d"))
    assert isinstance(database._adapter, peewee.Psycopg3Adapter)
    assert database._field_types["PERMISSIONS"] == "TEXT[]"


def test_url_dataclass_never_prints_password_even_for_sqlite_form():
    url = DatabaseURL("postgres", host="h", port=5432, user="u", password=SECRET, name="d")
    assert SECRET not in str(url) + repr(url)


def assert_one_clean_line(err: str) -> None:
    assert err.startswith("energy-tui: ")
    assert err.strip().count("\n") == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "mysql", "mysql+pymysql"])
def test_unreachable_server_exits_1_naming_host_and_port_with_password_masked(cli, scheme):
    result = cli("--db", f"{scheme}://alice:{SECRET}@127.0.0.1:1/energy", "db", "status")
    assert result.code == 1
    assert_one_clean_line(result.err)
    assert "127.0.0.1:1" in result.err
    assert "alice:***@" in result.err
    assert SECRET not in result.err + result.out
    assert SECRET not in locations.log_file().read_text(encoding="utf-8")


def test_unreachable_server_fails_the_same_for_write_commands(cli):
    result = cli(
        "prosumer", "add", "house-1", "--name", "House",
        "--db", f"postgresql://alice:{SECRET}@127.0.0.1:1/energy",
    )  # fmt: skip
    assert result.code == 1
    assert_one_clean_line(result.err)
    assert SECRET not in result.err


def test_unsupported_scheme_via_cli_exits_2_without_echoing_credentials(cli):
    result = cli("--db", f"mongodb://admin:{SECRET}@127.0.0.1:27017/energy", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert "mongodb" in result.err
    assert "postgresql://" in result.err  # says what is accepted
    assert SECRET not in result.err


def test_malformed_port_via_cli_exits_2_without_echoing_credentials(cli):
    result = cli("--db", f"postgresql://alice:{SECRET}@127.0.0.1:port/energy", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert "port" in result.err
    assert SECRET not in result.err


def test_sqlite_url_in_missing_folder_via_cli_exits_2(cli, tmp_path):
    result = cli("--db", f"sqlite:///{tmp_path}/no/such/dir/x.db", "db", "migrate")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert "does not exist" in result.err


def test_seed_note_relative_sqlite_url_via_cli_creates_the_file_in_working_directory(cli):
    result = cli("--db", "sqlite:./energy_trading.db", "db", "migrate")
    assert result.code == 0, result.err
    assert (Path.cwd() / "energy_trading.db").is_file()
    assert not locations.default_database_file().exists()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unknown_url_option_exits_2_naming_the_option(cli, scheme):
    result = cli("--db", f"{scheme}://alice:{SECRET}@127.0.0.1:1/energy?bogus=1", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert "database URL option 'bogus' is not supported" in result.err
    assert SECRET not in result.err


def test_url_may_name_the_mysql_charset_utf8mb4(cli):
    result = cli("--db", "mysql://alice@127.0.0.1:1/energy?charset=utf8mb4", "db", "status")
    assert result.code == 1
    assert_one_clean_line(result.err)
    assert "cannot reach MySQL at 127.0.0.1:1" in result.err


@pytest.mark.parametrize("charset", ["utf8", "utf8mb3", "latin1"])
def test_a_mysql_charset_without_4_byte_characters_is_refused_with_the_reason(cli, charset):
    """A utf8mb3 connection cannot carry an emoji: the server refuses it in a write and
    reads one already stored as '?', so the option is refused before connecting."""
    result = cli("--db", f"mysql://alice@127.0.0.1:1/energy?charset={charset}", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert f"charset='{charset}' is not valid: expected utf8mb4" in result.err
    assert "cannot hold 4-byte characters such as emoji" in result.err


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u@127.0.0.1:0/energy",
        "mysql://u@127.0.0.1:0/energy",
        "postgresql://u@127.0.0.1:65536/energy",
    ],
)
def test_port_outside_1_to_65535_is_refused(raw):
    with pytest.raises(ConfigError, match="invalid port: expected a number 1-65535"):
        parse_url(raw)


def test_port_zero_via_cli_exits_2_instead_of_connecting_to_5432(cli):
    result = cli("--db", f"postgresql://alice:{SECRET}@127.0.0.1:0/energy", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert "invalid port" in result.err
    assert SECRET not in result.err


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("max_connections=abc", "max_connections='abc' is not valid: expected a whole number"),
        ("max_connections=0", "max_connections='0' is not valid"),
        ("stale_timeout=1e3", "stale_timeout='1e3' is not valid"),
        ("timeout=", "timeout='' is not valid"),
        ("sslmode", "sslmode='' is not valid: expected one of disable, allow"),
        ("sslmode=maybe", "sslmode='maybe' is not valid"),
        ("sslmode=require&sslmode=disable", "sslmode is given twice"),
        ("password=x", "option 'password' is not supported for PostgreSQL"),
        ("field_types=x", "option 'field_types' is not supported"),
    ],
)
def test_malformed_or_unknown_url_option_is_refused_naming_it(cli, query, message):
    result = cli("--db", f"postgresql://alice:{SECRET}@127.0.0.1:1/energy?{query}", "db", "status")
    assert result.code == 2
    assert_one_clean_line(result.err)
    assert message in result.err
    assert SECRET not in result.err


def test_mysql_url_options_are_typed_for_the_driver():
    url = parse_url(
        "mysql://u@h/d?charset=utf8mb4&connect_timeout=5&ssl_verify_cert=false&max_connections=3"
    )
    assert dict(url.options) == {
        "charset": "utf8mb4",
        "connect_timeout": 5,
        "ssl_verify_cert": False,
        "max_connections": 3,
    }
    database = open_database(url)
    assert database._max_connections == 3
    assert database.connect_params["connect_timeout"] == 5


def test_mysql_refuses_a_postgresql_option():
    with pytest.raises(ConfigError, match="option 'sslmode' is not supported for MySQL"):
        parse_url("mysql://u@h/d?sslmode=require")


def test_sqlite_url_with_options_is_refused_instead_of_ignoring_them():
    with pytest.raises(ConfigError, match=r"a SQLite URL takes no options \(\?mode=ro\)"):
        parse_url("sqlite:./x.db?mode=ro")


def test_sqlite_url_in_an_unknown_users_home_is_refused():
    # Found by tests/test_fuzz_cli.py: Path.expanduser() raised RuntimeError (exit 1).
    with pytest.raises(ConfigError, match="unknown home folder"):
        parse_url("sqlite:~no-such-user-here/x.db")
