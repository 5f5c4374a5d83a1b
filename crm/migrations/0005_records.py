# Generated from a schema diff on 2026-12-05 12:42.
from peewee import *


def up(migrator, db):
    class Company(Model):
        class Meta:
            database = db
            table_name = 'cms_companies'

    class Member(Model):
        class Meta:
            database = db
            table_name = 'cms_members'

    class Opportunity(Model):
        class Meta:
            database = db
            table_name = 'cms_opportunities'

    class CloseDateChange(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        opportunity = ForeignKeyField(Opportunity, on_delete='CASCADE')
        from_date = DateField(null=True)
        to_date = DateField(null=True)
        changed_at = DateTimeField()
        actor = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'cms_close_date_changes'
            indexes = ((('company', 'changed_at'), False),)
    db.create_tables([CloseDateChange])

    class SearchTerm(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        kind = CharField(max_length=1)
        record_id = IntegerField()
        term = CharField(max_length=40)
        weight = IntegerField(default=1)
        class Meta:
            database = db
            table_name = 'cms_search_terms'
            indexes = ((('company', 'kind', 'term', 'weight', 'record_id'), False), (('company', 'kind', 'record_id'), False))
    db.create_tables([SearchTerm])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('cms_search_terms'))
    migrator.migrate(migrator.drop_table('cms_close_date_changes'))
