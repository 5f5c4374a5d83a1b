# Generated from a schema diff on 2026-12-05 12:42.
from peewee import *


def up(migrator, db):
    class Campaign(Model):
        class Meta:
            database = db
            table_name = 'cms_campaigns'

    class CampaignRecipient(Model):
        class Meta:
            database = db
            table_name = 'cms_campaign_recipients'

    class Company(Model):
        class Meta:
            database = db
            table_name = 'cms_companies'

    class Customer(Model):
        class Meta:
            database = db
            table_name = 'cms_customers'

    class Order(Model):
        class Meta:
            database = db
            table_name = 'cms_orders'

    class CampaignConversion(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        campaign = ForeignKeyField(Campaign, on_delete='CASCADE')
        recipient = ForeignKeyField(CampaignRecipient, on_delete='CASCADE')
        order = ForeignKeyField(Order, unique=True, on_delete='CASCADE')
        amount = BigIntegerField()
        occurred_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_campaign_conversions'
            indexes = ((('campaign',), False),)
    db.create_tables([CampaignConversion])

    class CampaignOptOut(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        customer = ForeignKeyField(Customer, on_delete='CASCADE')
        channel = CharField(max_length=16)
        source = CharField(max_length=16)
        campaign = ForeignKeyField(Campaign, null=True, on_delete='SET NULL')
        occurred_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_campaign_optouts'
            indexes = ((('customer', 'channel'), True),)
    db.create_tables([CampaignOptOut])

    migrator.migrate(migrator.add_column('cms_campaigns', 'links', TextField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'paused_reason', TextField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'connect_failures', IntegerField(default=0)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'resent_count', IntegerField(default=0)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'unsubscribed_count', IntegerField(default=0)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'dispatch_seen_at', DateTimeField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'reported_at', DateTimeField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'post_ref', CharField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'card_channel', CharField(null=True, max_length=32)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'card_ts', CharField(null=True, max_length=32)))
    migrator.migrate(migrator.add_column('cms_campaigns', 'card_updated_at', DateTimeField(null=True)))
    migrator.migrate(migrator.add_column('cms_campaign_recipients', 'lease', CharField(null=True, max_length=32)))
    migrator.migrate(migrator.add_column('cms_campaign_recipients', 'resent', BooleanField(default=False)))
    migrator.migrate(migrator.add_column('cms_campaign_recipients', 'rsvp', CharField(null=True, max_length=8)))
    migrator.migrate(migrator.add_index('cms_campaign_recipients', ('lease',)))
    migrator.migrate(migrator.add_index('cms_campaign_events', ('recipient_id', 'kind')))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('cms_campaign_events', 'cms_campaign_events_recipient_id_kind'))
    migrator.migrate(migrator.drop_index('cms_campaign_recipients', 'cms_campaign_recipients_lease'))
    migrator.migrate(migrator.drop_column('cms_campaign_recipients', 'rsvp'))
    migrator.migrate(migrator.drop_column('cms_campaign_recipients', 'resent'))
    migrator.migrate(migrator.drop_column('cms_campaign_recipients', 'lease'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'card_updated_at'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'card_ts'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'card_channel'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'post_ref'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'reported_at'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'dispatch_seen_at'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'unsubscribed_count'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'resent_count'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'connect_failures'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'paused_reason'))
    migrator.migrate(migrator.drop_column('cms_campaigns', 'links'))
    migrator.migrate(migrator.drop_table('cms_campaign_optouts'))
    migrator.migrate(migrator.drop_table('cms_campaign_conversions'))
