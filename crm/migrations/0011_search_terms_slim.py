# Written by hand from a schema diff on 2026-12-06: SQLite cannot drop a primary-key column, so
# the table is rebuilt on both databases with its rows copied over.
from peewee import *

CROSSES_COMPANIES = "a migration rewrites the table, every company's rows alike"
_COLUMNS = "company_id, kind, record_id, term, weight"


def _table(db, old_shape):
    class Company(Model):
        class Meta:
            database = db
            table_name = 'cms_companies'

    class SearchTerm(Model):
        if old_shape:
            created_at = DateTimeField()
            updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE', index=False)
        kind = CharField(max_length=1)
        record_id = IntegerField()
        term = CharField(max_length=40)
        weight = IntegerField(default=1)
        class Meta:
            database = db
            table_name = 'cms_search_terms'
            indexes = ((('company', 'kind', 'term', 'weight', 'record_id'), False), (('company', 'kind', 'record_id'), False))
            if not old_shape:
                primary_key = False
    return SearchTerm


def _rebuild(db, old_shape):
    """Copy the rows aside, make the table anew in the other shape, copy them back."""
    db.execute_sql(f'CREATE TABLE crm_search_terms_copy AS SELECT {_COLUMNS} FROM cms_search_terms')
    db.execute_sql('DROP TABLE cms_search_terms')
    model = _table(db, old_shape)
    db.create_tables([model])
    stamps = ("created_at, updated_at, ", "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, ") if old_shape else ("", "")
    db.execute_sql(
        f'INSERT INTO cms_search_terms ({stamps[0]}{_COLUMNS}) '
        f'SELECT {stamps[1]}{_COLUMNS} FROM crm_search_terms_copy'
    )
    db.execute_sql('DROP TABLE crm_search_terms_copy')


def up(migrator, db):
    _rebuild(db, old_shape=False)


def down(migrator, db):
    _rebuild(db, old_shape=True)
