"""Persistence: the Peewee models, URL -> database, exact aggregates, migrations."""
