"""Migrations are the schema's source of truth; they must produce exactly what the models say."""

from __future__ import annotations

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.schema_diff import diff_models

from crm.models import ALL_MODELS
from crm.schema import MIGRATIONS_DIR, pending
from tests.conftest import _pg_admin


def _columns(db: Database, table: str) -> dict[str, tuple[str, bool, bool]]:
    return {c.name: (c.data_type.lower(), c.null, c.primary_key) for c in db.get_columns(table)}


def _indexes(db: Database, table: str) -> set[tuple[tuple[str, ...], bool]]:
    return {(tuple(i.columns), i.unique) for i in db.get_indexes(table)}


def _foreign_keys(db: Database, table: str) -> set[tuple[str, str, str]]:
    return {(f.column, f.dest_table, f.dest_column) for f in db.get_foreign_keys(table)}


def test_migrated_database_matches_models(db, tmp_path):
    """Column names, types, nullability, keys, foreign keys and indexes agree with what
    ``create_tables`` makes from the models in a second, empty database."""
    migrated = db.database
    assert pending(migrated) == []
    assert not diff_models(migrated, list(ALL_MODELS)), "models changed: run `crm makemigrations`"

    if db.backend == "postgres":
        name = f"{migrated.database}_models"
        _pg_admin(f'CREATE DATABASE "{name}"')
        fresh: Database = PostgresqlDatabase(name, **migrated.connect_params)
    else:
        fresh = SqliteDatabase(str(tmp_path / "models.db"))
    try:
        with fresh.bind_ctx(ALL_MODELS):
            fresh.create_tables(ALL_MODELS)
        for model in ALL_MODELS:
            table = model._meta.table_name
            assert _columns(fresh, table), table
            assert _columns(migrated, table) == _columns(fresh, table), table
            assert _indexes(migrated, table) == _indexes(fresh, table), table
            assert _foreign_keys(migrated, table) == _foreign_keys(fresh, table), table
    finally:
        fresh.close()
        if db.backend == "postgres":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_are_numbered_scripts():
    names = sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
    assert names and names[0].startswith("0001_")
