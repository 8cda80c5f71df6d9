"""MySQL/MariaDB text must hold every character the app accepts: utf8mb4 throughout.

A database or table made with utf8mb3 (MySQL's old `utf8`) has no 4-byte characters:
an emoji typed into a name is refused by the server (strict mode, error 1366) and
compared with nothing (error 1267). `db migrate` checks the database's default and the
text columns of our tables and stops, naming them and how to convert them, changing
nothing (as step 0007 does for collations). Between migrations, a value the server
still cannot hold is refused where it was typed (`refusal`), with nothing written.
"""

from __future__ import annotations

import re

import peewee

from energy_tui.db.models import BaseModel
from energy_tui.errors import Conflict, ValidationError

FULL = "utf8mb4"
_WRONG_STRING = 1366  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: "Incorrect string value"
_MIXED_COLLATIONS = 1267  # ER_CANT_AGGREGATE_2COLLATIONS
_COPIES = {"event_data"}  # audit_logs: what was typed, as JSON
_COLUMN = re.compile(r"for column `[^`]*`\.`([^`]*)`\.`([^`]*)`")


def our_tables() -> set[str]:
    found, todo = set(), list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        found.add(model._meta.table_name)
        todo.extend(model.__subclasses__())
    return found


def narrow_columns(database: peewee.Database) -> list[tuple[str, str, str]]:
    """(table, column, charset) of our text columns that are not utf8mb4."""
    rows = database.execute_sql(
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_SET_NAME IS NOT NULL "
        f"AND CHARACTER_SET_NAME <> '{FULL}' ORDER BY TABLE_NAME, ORDINAL_POSITION"
    ).fetchall()
    ours = our_tables()
    return [(t, c, charset) for t, c, charset in rows if t in ours]


def require_full_unicode(database: peewee.Database) -> None:
    """Raise Conflict naming what cannot hold 4-byte characters, and the fix."""
    name, default = database.execute_sql(
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = DATABASE()"
    ).fetchone()
    narrow = narrow_columns(database)
    if default == FULL and not narrow:
        return
    found, fixes = [], []
    if default != FULL:
        found.append(f"the database {name} ({default})")
        fixes.append(f"ALTER DATABASE `{name}` CHARACTER SET {FULL} COLLATE {FULL}_general_ci;")
    found += [f"{table}.{column} ({charset})" for table, column, charset in narrow]
    for table in dict.fromkeys(table for table, _, _ in narrow):
        fixes.append(
            f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET {FULL} COLLATE {FULL}_general_ci;"
        )
    raise Conflict(
        f"cannot migrate: {', '.join(found)} cannot hold 4-byte characters such as emoji, "
        f"so a name typed with one would be refused; convert to {FULL} with "
        f"{' '.join(fixes)} then run `energy-tui db migrate` again (nothing was changed)"
    )


def refusal(error: BaseException) -> ValidationError | None:
    """The message for a MySQL error saying a typed text does not fit its column's
    character set (None: the error says something else)."""
    args: tuple[object, ...] = tuple(getattr(error, "args", ()))
    code = args[0] if args else None
    text = str(args[1]) if len(args) > 1 else ""
    if code == _WRONG_STRING and text.startswith("Incorrect string value"):  # not a number
        where = _COLUMN.search(text)
        table, column = (where[1], where[2]) if where else ("", "")
        shown = f"{table}.{column}" if where else "its column"
        # the audit's copy of what was typed is no field of the form
        field = column if column and column not in _COPIES else None
        return ValidationError(
            f"{field or 'the text'} holds a character this database cannot store ({shown} "
            "has no 4-byte characters such as emoji): leave it out, or have an operator "
            f"convert the column to {FULL} (`energy-tui db migrate` says how); nothing "
            "was written",
            field=field,
        )
    if code == _MIXED_COLLATIONS and "utf8mb3" in text:
        return ValidationError(  # the server does not say which column
            "the text holds a character this database cannot look up (a utf8mb3 column "
            "has no 4-byte characters such as emoji): leave it out, or have an operator "
            f"convert the database to {FULL} (`energy-tui db migrate` says how); nothing "
            "was written"
        )
    return None
