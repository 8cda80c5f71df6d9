"""`db migrate` / `db status` on every backend, and a database made with the seed's SQL."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import bcrypt
import peewee
import pytest
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as playhouse_migrate

from energy_tui.db import migrations
from energy_tui.db.connect import backend_of
from energy_tui.db.models import (
    MODELS,
    ApiKey,
    AuditSecret,
    EnergyOrder,
    EnergyTrade,
    PriceAlertWatermark,
    Prosumer,
    User,
    db,
)
from energy_tui.services.market import invariants
from tests import backends

SEED_NOTE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_763add5d4b9420a9.txt"
SEED_TABLES = (
    "users",
    "api_keys",
    "prosumers",
    "energy_orders",
    "energy_trades",
    "market_statistics",
)
STEP_NAMES = [f"{step.version:04d}_{step.name}" for step in migrations.steps()]
LATEST = migrations.steps()[-1].version


def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty, never migrated database of its own on `backend`."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    base = backends.server_url_or_skip(backend)
    name = f"energy_tui_fresh_{os.getpid()}"
    url = backends.create_private_database(base, name)
    yield url
    backends.drop_private_database(base, name)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


@pytest.fixture(params=["postgres", "mysql"])
def fresh_server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path)


def run_json(cli, *args: str) -> dict:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_status_of_a_fresh_database_shows_version_0_and_every_step_pending(cli, fresh_url):
    state = run_json(cli, "db", "status", "--db", fresh_url)
    assert state["version"] == 0
    assert state["pending"] == STEP_NAMES


def test_migrate_applies_every_step_once_and_is_idempotent(cli, fresh_url):
    first = run_json(cli, "db", "migrate", "--db", fresh_url)
    assert first["applied"] == STEP_NAMES
    assert first["version"] == LATEST
    second = run_json(cli, "db", "migrate", "--db", fresh_url)
    assert second["applied"] == []
    assert second["version"] == LATEST
    state = run_json(cli, "db", "status", "--db", fresh_url)
    assert (state["version"], state["pending"]) == (LATEST, [])


def test_migrate_and_status_text_output(cli, fresh_url):
    before = cli("db", "status", "--db", fresh_url)
    assert before.code == 0
    assert "version:  0" in before.out
    assert before.out.count(" pending") == len(STEP_NAMES)
    migrated = cli("db", "migrate", "--db", fresh_url)
    assert migrated.code == 0
    for step in migrations.steps():
        assert f"applied {step.version:04d} {step.name}" in migrated.out
    assert migrated.out.rstrip().endswith(f"schema at version {LATEST}")
    again = cli("db", "migrate", "--db", fresh_url)
    assert again.out.rstrip().endswith(f"schema at version {LATEST}, nothing to do")
    after = cli("db", "status", "--db", fresh_url)
    assert f"version:  {LATEST}" in after.out
    assert " pending" not in after.out
    assert after.out.count(" applied") == len(STEP_NAMES)


def test_migrate_creates_every_table_and_column_the_models_declare(cli, fresh_url):
    run_json(cli, "db", "migrate", "--db", fresh_url)
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            for model in (*MODELS, migrations.SchemaVersion):
                table = model._meta.table_name
                assert database.table_exists(table), table
                present = {column.name for column in database.get_columns(table)}
                declared = {field.column_name for field in model._meta.sorted_fields}
                assert declared <= present, (table, declared - present)
            versions = [row.version for row in migrations.SchemaVersion.select()]
            assert sorted(versions) == [step.version for step in migrations.steps()]
    finally:
        database.close()
        close_all = getattr(database, "close_all", None)
        if close_all:
            close_all()


def test_migrated_backend_reports_nothing_to_do(cli, backend):
    result = cli("db", "migrate", "--db", backend.url)
    assert result.code == 0, result.err
    assert result.out.rstrip().endswith(f"schema at version {LATEST}, nothing to do")
    state = run_json(cli, "db", "status", "--db", backend.url)
    assert (state["version"], state["pending"]) == (LATEST, [])
    assert migrations.status(backend.database).pending == []


def test_commands_on_an_unmigrated_server_database_ask_for_db_migrate(cli, fresh_server_url):
    result = cli("prosumer", "list", "--db", fresh_server_url)
    assert result.code == 2
    assert "energy-tui db migrate" in result.err
    assert result.err.count("\n") == 1
    assert run_json(cli, "db", "status", "--db", fresh_server_url)["version"] == 0


def test_commands_on_a_fresh_sqlite_file_migrate_it_first(cli, tmp_path):
    url = f"sqlite:///{tmp_path}/auto.db"
    result = cli("prosumer", "list", "--db", url)
    assert result.code == 0, result.err
    assert "(none)" in result.out
    assert run_json(cli, "db", "status", "--db", url)["pending"] == []


# --- a PostgreSQL database first created with the seed note's own SQL -----------------

SELLER, BUYER, IDLE = "seller-1", "buyer-1", "idle-1"
ALICE, BOB = uuid.UUID(int=1), uuid.UUID(int=2)
KEY_TRADE, KEY_DEFAULT = uuid.UUID(int=11), uuid.UUID(int=12)
SELL_FILLED, BUY_PARTIAL, BUY_FILLED, SELL_OPEN, BUY_CANCELLED, SELL_PARTIAL_CANCELLED = (
    uuid.UUID(int=n) for n in range(21, 27)
)
TRADE_1, TRADE_2, TRADE_3 = (uuid.UUID(int=n) for n in range(31, 34))
PASSWORD_HASH = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode().replace("$2b$", "$2a$")


def seed_sql() -> str:
    """The ```sql block of the seed note, verbatim (the note lives in the platform's
    shared folder beside the checkout, as in CI; without it the test skips, or fails
    when every backend is required)."""
    if not SEED_NOTE.is_file():
        message = f"the platform's seed note is not at {SEED_NOTE}"
        if backends.required():
            pytest.fail(message)
        pytest.skip(message)
    text = SEED_NOTE.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the seed note should hold exactly one SQL block"
    return blocks[0]


SEED_ROWS = f"""
INSERT INTO prosumers (address, name, energy_generated, energy_consumed, grid_tokens,
                       watt_tokens)
VALUES ('{SELLER}', 'Solar roof', 120.50, 20.25, 3.00, 10.01),
       ('{BUYER}', 'Flat 4', 0, 15.75, 0, 1000.00),
       ('{IDLE}', 'Idle', 0, 0, 0, 0);
INSERT INTO users (id, username, email, password_hash, role, is_active, last_login)
VALUES ('{ALICE}', 'alice', 'alice@example.org', '{PASSWORD_HASH}', 'trader', true,
        '2024-05-01 10:00:00'),
       ('{BOB}', 'bob', 'bob@example.org', '{PASSWORD_HASH}', 'admin', false, NULL);
INSERT INTO api_keys (id, user_id, name, key_hash, permissions, expires_at)
VALUES ('{KEY_TRADE}', '{ALICE}', 'bot', 'abc123', ARRAY['read', 'trade'], NULL);
INSERT INTO api_keys (id, user_id, name, key_hash)
VALUES ('{KEY_DEFAULT}', '{BOB}', 'dashboard', 'def456');
INSERT INTO energy_orders (id, trader_address, order_type, energy_amount, price_per_kwh,
                           is_active)
VALUES ('{SELL_FILLED}', '{SELLER}', 'sell', 10.00, 0.2000, false),
       ('{BUY_PARTIAL}', '{BUYER}', 'buy', 10.00, 0.2500, true),
       ('{BUY_FILLED}', '{BUYER}', 'buy', 4.00, 0.2100, true),
       ('{SELL_OPEN}', '{SELLER}', 'sell', 5.00, 0.3000, true),
       ('{BUY_CANCELLED}', '{BUYER}', 'buy', 3.00, 0.1000, false),
       ('{SELL_PARTIAL_CANCELLED}', '{SELLER}', 'sell', 8.00, 0.1900, false);
INSERT INTO energy_trades (id, buy_order_id, sell_order_id, buyer_address, seller_address,
                           energy_amount, price_per_kwh, total_price)
VALUES ('{TRADE_1}', '{BUY_PARTIAL}', '{SELL_FILLED}', '{BUYER}', '{SELLER}', 6.00,
        0.2000, 1.20),
       ('{TRADE_2}', '{BUY_FILLED}', '{SELL_FILLED}', '{BUYER}', '{SELLER}', 4.00,
        0.2000, 0.80),
       ('{TRADE_3}', '{BUY_PARTIAL}', '{SELL_PARTIAL_CANCELLED}', '{BUYER}', '{SELLER}',
        0.50, 0.1900, 0.10);
INSERT INTO market_statistics (date, total_trades, total_volume, average_price,
                               highest_price, lowest_price)
VALUES ('2024-05-01', 3, 10.50, 0.1995, 0.2000, 0.1900);
"""


def seed_columns(database: peewee.Database) -> dict[str, list[str]]:
    columns = {}
    for table in SEED_TABLES:
        cursor = database.execute_sql(f"SELECT * FROM {table} LIMIT 0")
        columns[table] = [column.name for column in cursor.description]
    return columns


def raw_rows(database: peewee.Database, columns: dict[str, list[str]]) -> dict[str, list]:
    """The rows of the seed tables, seed columns only (`is_active` of orders is derived)."""
    rows = {}
    for table, names in columns.items():
        kept = [name for name in names if (table, name) != ("energy_orders", "is_active")]
        cursor = database.execute_sql(f"SELECT {', '.join(kept)} FROM {table} ORDER BY 1")
        rows[table] = cursor.fetchall()
    return rows


@pytest.fixture
def seeded_postgres() -> Iterator[str]:
    """A PostgreSQL database created with the seed note's SQL and holding a few rows."""
    base = backends.server_url_or_skip("postgres")
    name = f"energy_tui_seed_{os.getpid()}"
    sql = seed_sql()  # skips without the note: before a connection is left open
    url = backends.create_private_database(base, name)
    database = backends.bind(url)
    with database.connection_context(), database.atomic():
        cursor = database.cursor()
        cursor.execute(sql)  # several statements at once: allowed without parameters
        cursor.execute(SEED_ROWS)
    database.close_all()
    yield url
    backends.drop_private_database(base, name)


def test_seed_sql_block_is_found_verbatim():
    sql = seed_sql()
    assert sql.startswith("-- Users table\nCREATE TABLE users (")
    assert "permissions TEXT[] DEFAULT ARRAY['read']," in sql
    assert sql.count("CREATE TABLE") == 6


def test_seed_made_postgresql_database_is_migrated_with_no_row_lost(cli, seeded_postgres):
    database = backends.bind(seeded_postgres)
    with database.connection_context():
        columns = seed_columns(database)
        before = raw_rows(database, columns)
    database.close_all()
    assert sum(len(rows) for rows in before.values()) == 3 + 2 + 2 + 6 + 3 + 1

    assert run_json(cli, "db", "status", "--db", seeded_postgres)["pending"] == STEP_NAMES
    assert run_json(cli, "db", "migrate", "--db", seeded_postgres)["applied"] == STEP_NAMES
    assert run_json(cli, "db", "migrate", "--db", seeded_postgres)["applied"] == []

    database = backends.bind(seeded_postgres)
    try:
        with database.connection_context():
            assert raw_rows(database, columns) == before
            check_seed_rows_read_through_models()
            permissions_type = database.execute_sql(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'api_keys' AND column_name = 'permissions'"
            ).fetchone()[0]
            assert permissions_type == "ARRAY"
    finally:
        database.close_all()
        db.initialize(None)


def check_seed_rows_read_through_models() -> None:
    seller = Prosumer.get_by_id(SELLER)
    assert seller.energy_generated == Decimal("120.50")
    assert seller.watt_tokens == Decimal("10.01")
    assert seller.grid_tokens == Decimal("3.00")
    # bought/sold come from the seed's trades; open seed orders now hold what they need
    assert (seller.energy_bought, seller.energy_sold) == (0, Decimal("10.50"))
    assert (seller.watt_reserved, seller.energy_reserved) == (0, Decimal("5.00"))  # SELL_OPEN
    buyer = Prosumer.get_by_id(BUYER)
    assert buyer.energy_bought == Decimal("10.50")
    assert buyer.watt_reserved == Decimal("0.88")  # BUY_PARTIAL: 3.50 kWh x 0.25, half-even
    assert seller.kind == "residential"
    # Every invariant but the first (seed balances were never deposited through us) holds.
    assert [p for p in invariants.check() if not p.startswith("1:")] == []

    alice = User.get_by_id(ALICE)
    assert (alice.username, alice.role, alice.password_hash) == ("alice", "trader", PASSWORD_HASH)
    assert (alice.failed_logins, alice.locked_until, alice.prosumer_address) == (0, None, None)
    assert User.get_by_id(BOB).is_active is False

    assert ApiKey.get_by_id(KEY_TRADE).permissions == ["read", "trade"]
    assert ApiKey.get_by_id(KEY_DEFAULT).permissions == ["read"]

    expected = {
        SELL_FILLED: ("10.00", "filled", False),
        BUY_PARTIAL: ("6.50", "partially_filled", True),
        BUY_FILLED: ("4.00", "filled", False),
        SELL_OPEN: ("0.00", "open", True),
        BUY_CANCELLED: ("0.00", "cancelled", False),
        SELL_PARTIAL_CANCELLED: ("0.50", "cancelled", False),
    }
    for order_id, (filled, status, active) in expected.items():
        order = EnergyOrder.get_by_id(order_id)
        assert (str(order.filled_amount), order.status, order.is_active) == (
            filled,
            status,
            active,
        ), order_id
    assert EnergyTrade.get_by_id(TRADE_1).total_price == Decimal("1.20")
    assert EnergyTrade.get_by_id(TRADE_3).fee == Decimal("0.00")
    # the alerts' watermark starts at the newest trade: no alert existed before them
    newest = EnergyTrade.select(peewee.fn.MAX(EnergyTrade.seq)).scalar()
    assert PriceAlertWatermark.get_by_id(1).checked_seq == newest


def test_seed_made_postgresql_database_works_with_the_cli_after_migrate(cli, seeded_postgres):
    assert cli("db", "migrate", "--db", seeded_postgres).code == 0
    users = run_json(cli, "user", "list", "--db", seeded_postgres)
    assert [(u["username"], u["is_active"]) for u in users] == [("alice", True), ("bob", False)]
    shown = run_json(cli, "prosumer", "deposit", BUYER, "0.01", "--db", seeded_postgres)
    assert shown["watt_total"] == "1000.01"
    shown = run_json(
        cli, "prosumer", "meter", SELLER, "--generated", "0.25", "--db", seeded_postgres
    )
    assert shown["energy_credits"] == "90.00"  # 120.50 + 0.25 - 20.25 - 10.50 sold
    created = cli(
        "user", "add", "carol", "--email", "carol@example.org", "--prosumer", IDLE,
        "--password-stdin", "--db", seeded_postgres, stdin="long enough\n",
    )  # fmt: skip
    assert created.code == 0, created.err


def test_seed_made_database_repeating_a_day_in_market_statistics_is_refused_unchanged(
    cli, seeded_postgres
):
    database = backends.bind(seeded_postgres)
    with database.connection_context():
        database.execute_sql(
            "INSERT INTO market_statistics (date, total_trades) VALUES ('2024-05-01', 1)"
        )
        columns = seed_columns(database)
        before = raw_rows(database, columns)
    database.close_all()

    result = cli("db", "migrate", "--db", seeded_postgres)
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "2 rows of market_statistics have the same date (2024-05-01)" in result.err
    assert "energy-tui db migrate" in result.err
    assert "Traceback" not in result.err
    assert run_json(cli, "db", "status", "--db", seeded_postgres)["version"] == 0

    database = backends.bind(seeded_postgres)
    try:
        with database.connection_context():
            assert seed_columns(database) == columns  # the failed step left no column behind
            assert raw_rows(database, columns) == before
            database.execute_sql("DELETE FROM market_statistics WHERE total_trades = 1")
    finally:
        database.close_all()
    assert run_json(cli, "db", "migrate", "--db", seeded_postgres)["applied"] == STEP_NAMES


def test_migration_0006_makes_the_empty_audit_secret_table(cli, fresh_url):
    run_json(cli, "db", "migrate", "--db", fresh_url)
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            assert "0006_audit_secret" in STEP_NAMES
            assert database.table_exists("audit_secret")
            columns = {column.name for column in database.get_columns("audit_secret")}
            assert columns == {"id", "secret", "created_at"}
            assert AuditSecret.select().count() == 0  # made on first need
    finally:
        database.close()
        close_all = getattr(database, "close_all", None)
        if close_all:
            close_all()


def test_migration_0009_makes_the_alerts_and_their_watermark_row(cli, fresh_url):
    run_json(cli, "db", "migrate", "--db", fresh_url)
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            columns = {column.name for column in database.get_columns("price_alerts")}
            assert {"after_seq", "fired_price"} <= columns
            assert [(w.id, w.checked_seq) for w in PriceAlertWatermark.select()] == [(1, 0)]
    finally:
        database.close()
        close_all = getattr(database, "close_all", None)
        if close_all:
            close_all()


# --- 0007: names unique without regard to case -------------------------------------------


def migrated_before_case_step(url: str) -> peewee.Database:
    """`url` migrated up to the step before 0007, as a database made before it was."""
    database = backends.bind(url)
    with database.connection_context():
        database.create_tables([migrations.SchemaVersion])
        for step in migrations.steps():
            if step.version < 7:
                with database.atomic():
                    step.up(database)
                    migrations.SchemaVersion.create(version=step.version, name=step.name)
    return database


def close(database: peewee.Database) -> None:
    database.close()
    close_all = getattr(database, "close_all", None)
    if close_all:
        close_all()


def case_sensitive_mysql_columns(database: peewee.Database) -> None:
    """Give MySQL's name columns a binary collation, as a database created with one
    would have (its default collation ignores case and would refuse the duplicates)."""
    for column, size in (("username", 50), ("email", 100)):
        database.execute_sql(
            f"ALTER TABLE users MODIFY {column} VARCHAR({size}) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
        )


def test_names_differing_only_by_case_stop_migrate_naming_them_and_nothing_changes(cli, fresh_url):
    database = migrated_before_case_step(fresh_url)
    mysql = fresh_url.startswith("mysql")
    with database.connection_context():
        if mysql:
            case_sensitive_mysql_columns(database)
        for name in ("alice", "Alice"):
            User.create(username=name, email=f"{name}@example.org", password_hash="x")
        if not mysql:  # the primary key of prosumers keeps MySQL's collation
            Prosumer.create(address="house-1", name="One")
            Prosumer.create(address="House-1", name="Two")
        before = migrations.status(database).current
    close(database)

    result = cli("db", "migrate", "--db", fresh_url)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1
    assert "users.username: 'Alice', 'alice'" in result.err
    assert "users.email: 'Alice@example.org', 'alice@example.org'" in result.err
    if not mysql:
        assert "prosumers.address: 'House-1', 'house-1'" in result.err
    assert "nothing was changed" in result.err
    assert run_json(cli, "db", "status", "--db", fresh_url)["version"] == before

    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            assert sorted(u.username for u in User.select()) == ["Alice", "alice"]
            User.delete().where(User.username == "Alice").execute()
            Prosumer.delete().where(Prosumer.address == "House-1").execute()
            if mysql:  # a binary collation is refused next: say so, change nothing
                refused = cli("db", "migrate", "--db", fresh_url)
                assert refused.code == 2
                assert "users.username (utf8mb4_bin)" in refused.err
                assert "case-insensitive collation" in refused.err
                database.execute_sql(
                    "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
    finally:
        close(database)
    assert run_json(cli, "db", "migrate", "--db", fresh_url)["version"] == LATEST


# --- 0008: order kinds and reasons ---------------------------------------------------------


PLACED_SEQ_INDEXES = (
    "energy_orders_trader_address_placed_seq",
    "energy_orders_trader_address_status_placed_seq",
)


def test_migration_0008_adds_kind_and_reason_to_orders_made_before_it(cli, fresh_url):
    run_json(cli, "db", "migrate", "--db", fresh_url)
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            # as a database made before 0008: no such columns, one order already placed
            # (placed_seq's indexes first: SQLite drops no indexed column)
            on_table = " ON energy_orders" if backend_of(database) == "mysql" else ""
            for index in PLACED_SEQ_INDEXES:
                database.execute_sql(f"DROP INDEX {index}{on_table}")
            # nor 0016's trigger, which names placed_seq (SQLite would keep the column)
            trigger_on = " ON energy_orders" if backend_of(database) == "postgres" else ""
            database.execute_sql(f"DROP TRIGGER energy_orders_seq{trigger_on}")
            for column in ("kind", "status_reason", "placed_seq"):
                database.execute_sql(f"ALTER TABLE energy_orders DROP COLUMN {column}")
            migrations.SchemaVersion.delete().where(
                migrations.SchemaVersion.version.in_([8, 16])
            ).execute()
            p = database.param
            database.execute_sql(
                "INSERT INTO energy_orders (id, trader_address, order_type, energy_amount, "
                "price_per_kwh, is_active, created_at, filled_amount, status, time_in_force, "
                f"updated_at, watt_reserved, seq) VALUES ({', '.join([p] * 13)})",
                (
                    uuid.UUID(int=1).hex,
                    "someone",
                    "sell",
                    Decimal("1.00"),
                    Decimal("0.1000"),
                    True,
                    "2026-01-01 00:00:00",
                    Decimal("0.00"),
                    "open",
                    "gtc",
                    "2026-01-01 00:00:00",
                    Decimal("0.00"),
                    7,
                ),
            )
    finally:
        close(database)

    run_json(cli, "db", "migrate", "--db", fresh_url)
    again = run_json(cli, "db", "status", "--db", fresh_url)
    assert (again["version"], again["pending"]) == (LATEST, [])
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            order = EnergyOrder.get_by_id(uuid.UUID(int=1))
            assert (order.kind, order.status_reason) == ("limit", None)
            assert order.placed_seq == 7  # its seq: the best record of when it was placed
            present = {index.name for index in database.get_indexes("energy_orders")}
            assert set(PLACED_SEQ_INDEXES) <= present
            # run on a database that has the columns already: nothing to add, no error
            module = next(s for s in migrations.steps() if s.version == 8)
            module.up(database)
    finally:
        close(database)


def test_migration_0032_adds_the_maker_column_to_keys_made_before_it(cli, fresh_url):
    run_json(cli, "db", "migrate", "--db", fresh_url)
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            # as a database made before 0032: no made_by_key_id, one key already made
            migrator = SchemaMigrator.from_database(database)
            if backend_of(database) == "mysql":
                playhouse_migrate(
                    migrator.drop_foreign_key_constraint("api_keys", "made_by_key_id")
                )
            for index in database.get_indexes("api_keys"):
                if index.columns == ["made_by_key_id"]:
                    playhouse_migrate(migrator.drop_index("api_keys", index.name))
            if backend_of(database) == "sqlite":
                _sqlite_keys_table_before_0032(database)
            else:
                database.execute_sql("ALTER TABLE api_keys DROP COLUMN made_by_key_id")
            migrations.SchemaVersion.delete().where(
                migrations.SchemaVersion.version == 32
            ).execute()
            assert "made_by_key_id" not in {c.name for c in database.get_columns("api_keys")}
            ApiKey.insert(
                id=uuid.UUID(int=5),
                name="old",
                key_hash="0" * 64,
                permissions=["read"],
                prefix="etk_0000abcd",
            ).execute()
    finally:
        close(database)

    run_json(cli, "db", "migrate", "--db", fresh_url)
    again = run_json(cli, "db", "status", "--db", fresh_url)
    assert (again["version"], again["pending"]) == (LATEST, [])
    database = backends.bind(fresh_url)
    try:
        with database.connection_context():
            old = ApiKey.get_by_id(uuid.UUID(int=5))
            assert old.made_by_key_id is None  # nobody recorded its maker: not followed
            made = ApiKey.create(
                name="new", key_hash="1" * 64, prefix="etk_0000abce", made_by=old.id
            )
            assert ApiKey.get_by_id(made.id).made_by_key_id == old.id
            present = {index.name for index in database.get_indexes("api_keys")}
            assert {"api_keys_prefix", "api_keys_made_by_key_id"} <= present
            foreign = database.get_foreign_keys("api_keys")
            assert [(f.column, f.dest_table) for f in foreign if f.column == "made_by_key_id"] == [
                ("made_by_key_id", "api_keys")
            ]
            # run on a database that has the column already: nothing to add, no error
            next(s for s in migrations.steps() if s.version == 32).up(database)
    finally:
        close(database)


def _sqlite_keys_table_before_0032(database: peewee.Database) -> None:
    """SQLite drops no column a table's foreign key names: make the (empty) table anew
    as it was before 0032, its other indexes left to the migration."""
    (create,) = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'"
    ).fetchone()
    for part in (
        ', "made_by_key_id" TEXT',
        ', FOREIGN KEY ("made_by_key_id") REFERENCES "api_keys" ("id") ON DELETE SET NULL',
    ):
        assert part in create, create
        create = create.replace(part, "")
    database.execute_sql("PRAGMA foreign_keys = OFF")
    database.execute_sql("DROP TABLE api_keys")
    database.execute_sql(create)
    database.execute_sql("PRAGMA foreign_keys = ON")
