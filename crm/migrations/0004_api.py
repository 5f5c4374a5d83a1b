# Generated from a schema diff on 2026-12-05 12:52 (JSON API: token scopes, Idempotency-Key answers).
from peewee import *


def up(migrator, db):
    class Company(Model):
        class Meta:
            database = db
            table_name = 'cms_companies'

    class ApiIdempotencyKey(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        key = CharField(max_length=200)
        fingerprint = CharField(max_length=64)
        status = IntegerField(null=True)
        response = TextField(null=True)
        class Meta:
            database = db
            table_name = 'cms_api_idempotency_keys'
            indexes = ((('company', 'key'), True), (('created_at',), False))
    db.create_tables([ApiIdempotencyKey])

    migrator.migrate(migrator.add_column('cms_api_tokens', 'scope', CharField(max_length=8, default='write')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('cms_api_tokens', 'scope'))
    migrator.migrate(migrator.drop_table('cms_api_idempotency_keys'))
