"""Idempotent schema helpers shared by the migration steps."""

from __future__ import annotations

from collections.abc import Sequence

from peewee import SQL, Database, Field, Model, fn
from playhouse.migrate import SchemaMigrator, migrate

from energy_tui.errors import EnergyError


def ensure_table(database: Database, model: type[Model]) -> list[str]:
    """Create `model`'s table, or add the columns and indexes it lacks.

    Returns the names of the columns added to an existing table.
    """
    table = model._meta.table_name
    if not database.table_exists(table):
        database.create_tables([model], safe=False)
        return []
    present = {column.name for column in database.get_columns(table)}
    missing = [field for field in model._meta.sorted_fields if field.column_name not in present]
    migrator = SchemaMigrator.from_database(database)
    for field in missing:
        migrate(migrator.add_column(table, field.column_name, field))
    ensure_indexes(database, model)
    return [field.column_name for field in missing]


def ensure_indexes(database: Database, model: type[Model]) -> None:
    table = model._meta.table_name
    present = {index.name for index in database.get_indexes(table)}
    for index in model._meta.fields_to_index():
        if index._name not in present:
            if index._unique:
                refuse_duplicates(model, index._expressions)
            database.execute(index.safe(False))


def refuse_duplicates(model: type[Model], fields: Sequence[Field]) -> None:
    """A table made elsewhere (the seed's SQL) may repeat what our schema keeps unique:
    name the clash instead of failing on the index, and change no row."""
    count = fn.COUNT(SQL("*"))
    row = (
        model.select(*fields, count)
        .where(*(field.is_null(False) for field in fields))
        .group_by(*fields)
        .having(count > 1)
        .tuples()
        .first()
    )
    if row is None:
        return
    *values, times = row
    columns = ", ".join(field.column_name for field in fields)
    raise EnergyError(
        f"cannot migrate: {times} rows of {model._meta.table_name} have the same {columns}"
        f" ({', '.join(map(str, values))}), which this schema keeps unique; merge or delete"
        " the duplicates, then run `energy-tui db migrate` again"
    )
