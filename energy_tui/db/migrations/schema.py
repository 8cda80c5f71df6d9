"""Idempotent schema helpers shared by the migration steps."""

from __future__ import annotations

from peewee import Database, Model
from playhouse.migrate import SchemaMigrator, migrate


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
            database.execute(index.safe(False))
