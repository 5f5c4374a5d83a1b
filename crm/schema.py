"""Schema migrations with Peewee's own ``playhouse.migrations`` runner.

``crm migrate`` applies the numbered scripts in ``crm/migrations``; ``crm makemigrations``
writes the next script from the difference between the models and a migrated database, so
nobody hand-writes DDL and the test suite can prove the two agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from peewee import Database, SqliteDatabase
from playhouse.migrations import Runner, template
from playhouse.schema_diff import diff_models

from crm.models import ALL_MODELS

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def migrate(db: Database) -> list[str]:
    """Apply pending migrations; returns their names (empty when up to date)."""
    return Runner(db, directory=str(MIGRATIONS_DIR)).up()


def pending(db: Database) -> list[str]:
    return [m.name for m in Runner(db, directory=str(MIGRATIONS_DIR)).status() if not m.applied]


# Custom fields are written as their storage type so a migration never changes meaning when
# the models' Python-side conversions do.
_STORAGE_TYPES = {
    "EncryptedJSONField": "TextField",
    "EncryptedTextField": "TextField",
    "JSONField": "TextField",
    "MoneyField": "BigIntegerField",
}


def _freeze(body: str) -> str:
    lines = []
    for line in body.splitlines():
        if line.startswith("from crm."):
            continue
        # Python-side defaults (utcnow, list, ...) have no DDL; the models supply them.
        if line.startswith("# TODO:") and "default <function" in line:
            continue
        for custom, storage in _STORAGE_TYPES.items():
            line = line.replace(f"{custom}(", f"{storage}(")
        lines.append(line)
    return "\n".join(lines) + "\n"


def make_migration(name: str) -> Path | None:
    """Write the next migration from models vs. a scratch SQLite database migrated to head."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = SqliteDatabase(str(Path(tmp) / "scratch.db"))
        with scratch.bind_ctx(ALL_MODELS):
            migrate(scratch)
            diff = diff_models(scratch, list(ALL_MODELS))
            if not diff:
                return None
            body = _freeze(template(diff))
        scratch.close()
    return Path(
        Runner(SqliteDatabase(":memory:"), directory=str(MIGRATIONS_DIR)).create(name, body)
    )
