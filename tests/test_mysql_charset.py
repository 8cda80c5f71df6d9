"""Text with 4-byte characters (emoji) is stored exactly or refused where it was typed,
never stored as '?' or cut: on every backend, and on MySQL/MariaDB whose database or
columns are utf8mb3 (MySQL's old `utf8`), or whose URL asks for such a connection."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import peewee
import pytest

from energy_tui.db import charset
from energy_tui.db.models import MODELS, ApiKey, AuditLog, Prosumer, User
from tests import backends
from tests.api_support import client_for, key, make_app, user
from tests.test_migrations import LATEST, fresh_database, run_json

BATTERY = "Sun \U0001f50b house"  # U+1F50B: four bytes in UTF-8
V1 = "/api/v1"
PASSWORD = "a long enough password"


def snapshot() -> dict[str, object]:
    counts = {model._meta.table_name: model.select().count() for model in MODELS}
    return {"counts": counts, "prosumers": list(Prosumer.select().tuples())}


@contextlib.contextmanager
def utf8mb3_column(database: peewee.Database, table: str, column: str) -> Iterator[None]:
    """`table.column` made utf8mb3, as a table created in such a database has it; put
    back as it was afterwards (the test database is shared by the module)."""
    kind, nullable, collation = database.execute_sql(
        "SELECT COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        (table, column),
    ).fetchone()
    null = "NULL" if nullable == "YES" else "NOT NULL"
    alter = f"ALTER TABLE {table} MODIFY {column} {kind} CHARACTER SET"
    database.execute_sql(f"{alter} utf8mb3 {null}")
    try:
        yield
    finally:
        database.execute_sql(f"{alter} utf8mb4 COLLATE {collation} {null}")


@pytest.fixture
def mysql(backend):
    if backend.name != "mysql":
        pytest.skip("a utf8mb3 column exists on MySQL/MariaDB only")
    return backend


def test_text_with_a_4_byte_character_is_stored_exactly(cli, backend):
    result = cli("--db", backend.url, "prosumer", "add", "house-1", "--name", BATTERY, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["name"] == BATTERY
    assert Prosumer.get_by_id("house-1").name == BATTERY
    email = "sun\U0001f50b@example.org"
    added = cli(
        "--db", backend.url, "user", "add", "alice", "--email", email, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.code == 0, added.err
    made = cli("--db", backend.url, "key", "create", "--user", "alice", "--name", BATTERY)
    assert made.code == 0, made.err
    assert User.get(User.username == "alice").email == email
    assert ApiKey.get(ApiKey.user == User.get(User.username == "alice")).name == BATTERY


STORE = "holds a character this database cannot store"
# (column made utf8mb3, the command typing a 4-byte character, what the message says)
TYPED = [
    ("prosumers.name", ("prosumer", "add", "house-1", "--name", BATTERY), f"name {STORE} ("),
    ("api_keys.name", ("key", "create", "--user", "olga", "--name", BATTERY), f"name {STORE}"),
    # the copy in the audit's JSON is no field of the command
    ("audit_logs.event_data", ("prosumer", "add", "house-1", "--name", BATTERY), "the text"),
    # looked up first (taken already?): the server names no column then
    (
        "users.email",
        ("user", "add", "alice", "--email", "\U0001f50b@example.org", "--password-stdin"),
        "the text holds a character this database cannot look up (a utf8mb3 column",
    ),
]


@pytest.mark.parametrize(("column", "command", "says"), TYPED, ids=[t[0] for t in TYPED])
def test_cli_refuses_a_4_byte_character_a_utf8mb3_column_cannot_hold(
    cli, mysql, column, command, says
):
    user("olga", role="operator")
    before = snapshot()
    with utf8mb3_column(mysql.database, *column.split(".")):
        result = cli("--db", mysql.url, *command, stdin=PASSWORD + "\n")
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1
    assert says in result.err
    assert column in result.err or "look up" in says
    assert "nothing was written" in result.err
    assert snapshot() == before


def test_api_refuses_a_4_byte_key_name_a_utf8mb3_column_cannot_hold(mysql):
    user("olga", role="operator")
    user("carol")
    headers = key("olga", "read,manage")
    keys_before = ApiKey.select().count()
    generated = AuditLog.select().where(AuditLog.event_type == "api_key_generated")
    events_before = generated.count()
    client = client_for(make_app())
    with utf8mb3_column(mysql.database, "api_keys", "name"):
        response = client.post(
            f"{V1}/keys",
            json={"user": "carol", "name": BATTERY, "permissions": ["read"]},
            headers=headers,
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert "name holds a character this database cannot store (api_keys.name" in body["detail"]
    assert body.get("field") == "name"
    assert ApiKey.select().count() == keys_before
    assert generated.count() == events_before


@pytest.fixture
def fresh_mysql_url(tmp_path) -> Iterator[str]:
    yield from fresh_database("mysql", tmp_path)


def test_migrate_names_utf8mb3_columns_and_changes_nothing_until_converted(cli, fresh_mysql_url):
    run_json(cli, "db", "migrate", "--db", fresh_mysql_url)
    database = backends.bind(fresh_mysql_url)
    try:
        with database.connection_context():
            database.execute_sql(
                "ALTER TABLE prosumers MODIFY name VARCHAR(200) CHARACTER SET utf8mb3 NOT NULL"
            )
            refused = cli("db", "migrate", "--db", fresh_mysql_url)
            assert refused.code == 2, refused.err
            assert refused.err.count("\n") == 1
            assert "prosumers.name (utf8mb3) cannot hold 4-byte characters" in refused.err
            assert "ALTER TABLE `prosumers` CONVERT TO CHARACTER SET utf8mb4" in refused.err
            assert "nothing was changed" in refused.err
            database.execute_sql(
                "ALTER TABLE prosumers CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            )
    finally:
        database.close()
        database.close_all()
    assert run_json(cli, "db", "migrate", "--db", fresh_mysql_url)["version"] == LATEST


def test_migrate_refuses_a_utf8mb3_database_before_creating_anything(cli, fresh_mysql_url):
    database = backends.bind(fresh_mysql_url)
    try:
        with database.connection_context():
            name = database.execute_sql("SELECT DATABASE()").fetchone()[0]
            database.execute_sql(f"ALTER DATABASE `{name}` CHARACTER SET utf8mb3")
            refused = cli("db", "migrate", "--db", fresh_mysql_url)
            assert refused.code == 2, refused.err
            assert f"the database {name} (utf8mb3) cannot hold 4-byte characters" in refused.err
            assert f"ALTER DATABASE `{name}` CHARACTER SET utf8mb4" in refused.err
            assert database.get_tables() == []
    finally:
        database.close()
        database.close_all()


def test_tui_form_shows_the_refusal_under_the_name_and_writes_nothing(mysql):
    from energy_tui.config import load_settings
    from energy_tui.db.urls import parse_url
    from energy_tui.tui.widgets.form import FormModal
    from tests.test_tui_admin import open_admin
    from tests.tui_identity_support import _seed, app_for, field_error, settle, sync, type_text

    _seed(4)
    before = snapshot()

    @sync
    async def scenario() -> None:
        app = app_for(load_settings(db=mysql.url), parse_url(mysql.url))
        async with app.run_test(size=(120, 40)) as pilot:
            await open_admin(pilot, "admin", tab="p")
            await pilot.press("a")
            await settle(pilot)
            await type_text(pilot, "home-03")
            await pilot.press("enter")
            await type_text(pilot, BATTERY)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, FormModal)
            shown = field_error(app.screen, "name")
            assert "name holds a character this database cannot store" in shown

    with utf8mb3_column(mysql.database, "prosumers", "name"):
        scenario()
    after = snapshot()
    assert after["prosumers"] == before["prosumers"]
    logins = {"audit_logs": 1, "sessions": 1}  # the admin's login, and nothing else
    assert {
        table: count - logins.get(table, 0) for table, count in after["counts"].items()
    } == before["counts"]


def test_only_a_text_the_column_cannot_hold_is_read_as_a_charset_refusal():
    """MySQL's error 1366 also says "Incorrect decimal value": that is no charset's doing,
    and stays the driver's error."""
    string = (
        1366,
        "Incorrect string value: '\\xF0\\x9F\\x94\\x8B' for column `d`.`t`.`c` at row 1",
    )
    number = (1366, "Incorrect decimal value: 'x' for column `d`.`t`.`c` at row 1")
    refused = charset.refusal(Exception(*string))
    assert refused is not None and refused.field == "c"
    assert charset.refusal(Exception(*number)) is None
    assert charset.refusal(Exception(1267, "Illegal mix of collations (latin1_bin,..)")) is None
