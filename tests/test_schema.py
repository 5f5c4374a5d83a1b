"""Migrations are the schema's source of truth; they must produce exactly what the models say."""

from __future__ import annotations

import uuid

import pytest
from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.schema_diff import diff_models

from crm.models import ALL_MODELS
from crm.schema import MIGRATIONS_DIR, pending
from tests.conftest import BACKENDS, _pg_admin


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


def test_company_key_migration_fills_the_existing_rows(tmp_path):
    """0008 adds the duplicate check's company key and computes it for the rows already
    there, with the same normalisation a save applies now."""
    from playhouse.migrations import Runner

    from crm.parsing.names import company_key

    scratch = SqliteDatabase(str(tmp_path / "upgrade.db"))
    runner = Runner(scratch, directory=str(MIGRATIONS_DIR))
    runner.up("0007_campaigns")
    scratch.execute_sql("INSERT INTO cms_companies (created_at, updated_at, team_id, name, "
                        "currency, phone_region, timezone) VALUES (0, 0, 'T1', 'x', 'ZMW', "
                        "'ZM', 'UTC')")  # fmt: skip
    names = ["ACME, Inc.", "Zoë  Trading Co", None, "Globex"]
    rows = {
        "cms_leads": "source, status, priority, tags) VALUES (0, 0, 1, ?, ?, 'web', 'new', 'low', '[]')",
        "cms_customers": "tags, unsubscribed) VALUES (0, 0, 1, ?, ?, '[]', '[]')",
    }
    for n, name in enumerate(names):
        for table, rest in rows.items():
            scratch.execute_sql(
                f"INSERT INTO {table} (created_at, updated_at, company_id, name, company_name, "
                + rest,
                (f"person {n}", name),
            )
    runner.up()
    for table in ("cms_leads", "cms_customers"):
        got = [k for (k,) in scratch.execute_sql(f"SELECT company_key FROM {table} ORDER BY id")]
        assert got == [company_key(n) for n in names] == ["acme", "zoë trading", None, "globex"]
    scratch.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_words_keep_their_rows_through_0011_and_back(backend, tmp_path):
    """0011 rebuilds the word index without its id and timestamps (SQLite cannot drop a
    primary-key column): every word is still there after it, and after its down() too."""
    from playhouse.migrations import Runner

    name = f"crm_test_migrate_{uuid.uuid4().hex[:10]}"
    if backend == "postgres":
        _pg_admin(f'CREATE DATABASE "{name}"')
        scratch: Database = PostgresqlDatabase(name, host="127.0.0.1", user="postgres")
    else:
        scratch = SqliteDatabase(str(tmp_path / "upgrade.db"))
    try:
        runner = Runner(scratch, directory=str(MIGRATIONS_DIR))
        runner.up("0010_keyset_pages")
        scratch.execute_sql("INSERT INTO cms_companies (created_at, updated_at, team_id, name, "
                            "currency, phone_region, timezone) VALUES (CURRENT_TIMESTAMP, "
                            "CURRENT_TIMESTAMP, 'T1', 'x', 'ZMW', 'ZM', 'UTC')")  # fmt: skip
        (company,) = scratch.execute_sql("SELECT id FROM cms_companies").fetchone()
        words = [
            (company, "l", 7, "jane", 4),
            (company, "l", 7, "doe", 4),
            (company, "c", 9, "acme", 2),
        ]
        for word in words:
            scratch.execute_sql(
                "INSERT INTO cms_search_terms (created_at, updated_at, company_id, kind, "
                "record_id, term, weight) VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                + ", ".join([scratch.param] * 5)
                + ")",
                word,
            )

        def stored() -> list[tuple[object, ...]]:
            return sorted(
                scratch.execute_sql(
                    "SELECT company_id, kind, record_id, term, weight FROM cms_search_terms"
                ).fetchall()
            )

        runner.up("0011_search_terms_slim")
        assert stored() == sorted(words)
        assert set(_columns(scratch, "cms_search_terms")) == {
            "company_id", "kind", "record_id", "term", "weight"
        }  # fmt: skip
        runner.down("0011_search_terms_slim")
        assert stored() == sorted(words)
        assert {"id", "created_at", "updated_at"} <= set(_columns(scratch, "cms_search_terms"))
    finally:
        scratch.close()
        if backend == "postgres":
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
