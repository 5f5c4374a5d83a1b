# Generated from a schema diff on 2026-12-05 08:04.
from peewee import *


def up(migrator, db):
    class ReceivedRequest(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        key = CharField(unique=True, max_length=100)
        class Meta:
            database = db
            table_name = 'slack_received_requests'
            indexes = ((('created_at',), False),)
    db.create_tables([ReceivedRequest])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('slack_received_requests'))
