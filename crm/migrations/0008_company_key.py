# Generated from a schema diff on 2026-12-06 02:48.
import re
import unicodedata

from peewee import *

# frozen copy of crm.parsing.names.company_key as of this migration: the backfill must give
# the keys this schema version defines, whatever the code later does
_LEGAL_FORMS = frozenset(
    "inc incorporated ltd limited llc llp plc co company corp corporation gmbh ag sa sas srl "
    "bv nv pty pvt oy ab as".split()
)


def _key(text):
    if not text:
        return None
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).casefold())
    while len(words) > 1 and words[-1] in _LEGAL_FORMS:
        words.pop()
    return " ".join(words)[:200] or None


def _backfill(db, table):
    """Every existing row's key, 1,000 rows per read (a big workspace has a million leads)."""
    last = 0
    while True:
        rows = db.execute_sql(
            f'SELECT id, company_name FROM "{table}" WHERE id > {db.param} '
            "AND company_name IS NOT NULL ORDER BY id LIMIT 1000",
            (last,),
        ).fetchall()
        if not rows:
            return
        for row_id, name in rows:
            key = _key(name)
            if key is not None:
                db.execute_sql(
                    f'UPDATE "{table}" SET company_key = {db.param} WHERE id = {db.param}',
                    (key, row_id),
                )
        last = rows[-1][0]


def up(migrator, db):
    migrator.migrate(migrator.add_column('cms_leads', 'company_key', CharField(null=True, max_length=200)))
    migrator.migrate(migrator.add_column('cms_customers', 'company_key', CharField(null=True, max_length=200)))
    migrator.migrate(migrator.add_index('cms_leads', ('company_id', 'company_key')))
    migrator.migrate(migrator.add_index('cms_customers', ('company_id', 'company_key')))
    with db.atomic():
        _backfill(db, 'cms_leads')
        _backfill(db, 'cms_customers')


def down(migrator, db):
    migrator.migrate(migrator.drop_index('cms_customers', 'cms_customers_company_id_company_key'))
    migrator.migrate(migrator.drop_index('cms_leads', 'cms_leads_company_id_company_key'))
    migrator.migrate(migrator.drop_column('cms_customers', 'company_key'))
    migrator.migrate(migrator.drop_column('cms_leads', 'company_key'))
