"""Usernames, emails and prosumer addresses unique without regard to case.

SQLite and PostgreSQL compare text by case: `alice` and `Alice` were two accounts
there and one on MariaDB. This step adds a unique index on lower(column) (which
`db.identity.same_text` lookups also use). MySQL/MariaDB need none: their unique
indexes already ignore case under the case-insensitive collation the tables get from
a utf8mb4 database; the step checks that they do.

A database that already holds names differing only by case is not merged: the step
names them and stops, changing nothing, so that an operator decides which to keep.
"""

from __future__ import annotations

from peewee import Database

from energy_tui.db.connect import backend_of
from energy_tui.db.identity import CASELESS_COLUMNS
from energy_tui.errors import Conflict


def up(database: Database) -> None:
    clashes = [
        clash
        for table, column, _ in CASELESS_COLUMNS
        for clash in _clashes(database, table, column)
    ]
    if clashes:
        raise Conflict(
            "cannot migrate: usernames, emails and prosumer addresses must differ by more "
            f"than case, and these do not: {'; '.join(clashes)}. Rename or delete all but "
            "one of each, then run `energy-tui db migrate` again (nothing was changed)"
        )
    if backend_of(database) == "mysql":
        _require_caseless_collation(database)
        return
    for table, column, index in CASELESS_COLUMNS:
        database.execute_sql(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{index}" ON "{table}" (lower("{column}"))'
        )


def _clashes(database: Database, table: str, column: str) -> list[str]:
    """`table.column: 'alice', 'Alice'` for each group of values equal but for case."""
    # Binary comparison on MySQL, whose collation would fold the group into one row.
    exact = f"BINARY {column}" if backend_of(database) == "mysql" else column
    groups = database.execute_sql(
        f"SELECT lower({column}) FROM {table} GROUP BY lower({column}) "
        f"HAVING COUNT(DISTINCT {exact}) > 1 ORDER BY 1"
    ).fetchall()
    found = []
    for (key,) in groups:
        values = database.execute_sql(
            f"SELECT {column} FROM {table} WHERE lower({column}) = {database.param}",
            (key,),
        ).fetchall()
        found.append(f"{table}.{column}: {', '.join(repr(v) for (v,) in sorted(values))}")
    return found


def _require_caseless_collation(database: Database) -> None:
    rows = database.execute_sql(
        "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME, COLUMN_NAME) IN "
        "(('users', 'username'), ('users', 'email'), ('prosumers', 'address'))"
    ).fetchall()
    strict = [f"{t}.{c} ({collation})" for t, c, collation in rows if not _caseless(collation)]
    if strict:
        raise Conflict(
            f"cannot migrate: {', '.join(strict)} compare with case, so `alice` and "
            "`Alice` would be two accounts; give these columns a case-insensitive "
            "collation (such as utf8mb4_general_ci), then run `energy-tui db migrate` again"
        )


def _caseless(collation: str | None) -> bool:
    return bool(collation) and "_ci" in str(collation)
