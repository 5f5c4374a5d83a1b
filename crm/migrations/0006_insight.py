# Generated from a schema diff on 2026-12-05 08:04.
from peewee import *


def up(migrator, db):
    class Company(Model):
        class Meta:
            database = db
            table_name = 'cms_companies'

    class Customer(Model):
        class Meta:
            database = db
            table_name = 'cms_customers'

    class Lead(Model):
        class Meta:
            database = db
            table_name = 'cms_leads'

    class InsightFit(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        kind = CharField(max_length=16)
        fitted_at = DateTimeField()
        data_until = DateField(null=True)
        sample_size = IntegerField(default=0)
        informative = IntegerField(default=0)
        needed = IntegerField(default=0)
        params = TextField(null=True)
        log_likelihood = FloatField(null=True)
        class Meta:
            database = db
            table_name = 'cms_insight_fits'
            indexes = ((('company', 'kind', 'fitted_at'), False),)
    db.create_tables([InsightFit])

    class CustomerPrediction(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        customer = ForeignKeyField(Customer, unique=True, on_delete='CASCADE')
        fit = ForeignKeyField(InsightFit, on_delete='CASCADE')
        repeat_purchases = IntegerField(default=0)
        p_alive = FloatField()
        expected_purchases = FloatField()
        predicted_clv = BigIntegerField()
        below_half_at = DateTimeField(null=True)
        computed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_customer_predictions'
            indexes = ((('company', 'p_alive'), False),)
    db.create_tables([CustomerPrediction])

    class LeadScore(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        lead = ForeignKeyField(Lead, unique=True, on_delete='CASCADE')
        score = IntegerField()
        reasons = TextField(default=list)
        computed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_lead_scores'
            indexes = ((('company', 'score'), False),)
    db.create_tables([LeadScore])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('cms_lead_scores'))
    migrator.migrate(migrator.drop_table('cms_customer_predictions'))
    migrator.migrate(migrator.drop_table('cms_insight_fits'))
