# Generated from a schema diff on 2026-11-25 18:47.
from peewee import *


def up(migrator, db):
    class Company(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        team_id = CharField(unique=True, max_length=32)
        name = CharField(max_length=200, default='')
        currency = CharField(max_length=3, default='ZMW')
        phone_region = CharField(max_length=2, default='ZM')
        timezone = CharField(max_length=64, default='Africa/Lusaka')
        tier_thresholds = TextField(null=True)
        digest_channel = CharField(null=True, max_length=32)
        settings = TextField(null=True)
        class Meta:
            database = db
            table_name = 'cms_companies'
    db.create_tables([Company])

    class ApiToken(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=100)
        token_hash = CharField(unique=True, max_length=64)
        prefix = CharField(max_length=16)
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'cms_api_tokens'
    db.create_tables([ApiToken])

    class Member(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        slack_user_id = CharField(max_length=32)
        name = CharField(max_length=200, default='')
        email = CharField(null=True, max_length=254)
        tz = CharField(max_length=64, default='UTC')
        role = CharField(max_length=16, default='rep')
        is_active = BooleanField(default=True)
        refreshed_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'cms_members'
            indexes = ((('company', 'slack_user_id'), True),)
    db.create_tables([Member])

    class AuditLog(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        change_id = CharField(max_length=32)
        actor_type = CharField(max_length=8)
        actor_member = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        actor_token = ForeignKeyField(ApiToken, null=True, on_delete='SET NULL')
        actor_label = CharField(max_length=200, default='')
        origin = CharField(max_length=8)
        action = CharField(max_length=32)
        entity_type = CharField(max_length=32)
        entity_id = IntegerField()
        changes = TextField(default=dict)
        reverted_at = DateTimeField(null=True)
        revert_of = CharField(null=True, max_length=32)
        class Meta:
            database = db
            table_name = 'cms_audit_log'
            indexes = ((('company', 'entity_type', 'entity_id'), False), (('company', 'change_id'), False))
    db.create_tables([AuditLog])

    class CustomerSegment(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=200)
        description = TextField(null=True)
        criteria = TextField(default=dict)
        customer_count = IntegerField(default=0)
        counted_at = DateTimeField(null=True)
        is_active = BooleanField(default=True)
        class Meta:
            database = db
            table_name = 'cms_customer_segments'
            indexes = ((('company', 'name'), True),)
    db.create_tables([CustomerSegment])

    class Campaign(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=200)
        channel = CharField(max_length=16)
        segment = ForeignKeyField(CustomerSegment, null=True, on_delete='SET NULL')
        customer_ids = TextField(null=True)
        subject = CharField(null=True)
        body = TextField(default='')
        scheduled_at = DateTimeField(null=True)
        status = CharField(max_length=16, default='draft')
        budget = BigIntegerField(null=True)
        cost = BigIntegerField(null=True)
        goal_type = CharField(null=True, max_length=16)
        goal_value = BigIntegerField(null=True)
        attribution_days = IntegerField(default=30)
        target_channel = CharField(null=True, max_length=500)
        event_at = DateTimeField(null=True)
        event_location = CharField(null=True)
        created_by = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        audience_count = IntegerField(default=0)
        sent_count = IntegerField(default=0)
        skipped_count = IntegerField(default=0)
        failed_count = IntegerField(default=0)
        opened_count = IntegerField(default=0)
        clicked_count = IntegerField(default=0)
        converted_count = IntegerField(default=0)
        attributed_revenue = BigIntegerField(default=0)
        class Meta:
            database = db
            table_name = 'cms_campaigns'
            indexes = ((('status', 'scheduled_at'), False),)
    db.create_tables([Campaign])

    class Lead(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=200)
        email = CharField(null=True, max_length=254)
        phone = CharField(null=True, max_length=32)
        company_name = CharField(null=True, max_length=200)
        source = CharField(max_length=16, default='other')
        status = CharField(max_length=16, default='new')
        priority = CharField(max_length=8, default='medium')
        estimated_value = BigIntegerField(null=True)
        probability = IntegerField(null=True)
        assigned_to = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        tags = TextField(default=list)
        last_contacted_at = DateTimeField(null=True)
        converted_at = DateTimeField(null=True)
        lost_reason = TextField(null=True)
        class Meta:
            database = db
            table_name = 'cms_leads'
            indexes = ((('company', 'status'), False), (('company', 'email'), False), (('company', 'phone'), False))
    db.create_tables([Lead])

    class Customer(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=200)
        email = CharField(null=True, max_length=254)
        phone = CharField(null=True, max_length=32)
        company_name = CharField(null=True, max_length=200)
        industry = CharField(null=True, max_length=100)
        tags = TextField(default=list)
        lead = ForeignKeyField(Lead, unique=True, null=True, on_delete='SET NULL')
        assigned_to = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        last_contacted_at = DateTimeField(null=True)
        unsubscribed = TextField(default=list)
        class Meta:
            database = db
            table_name = 'cms_customers'
            indexes = ((('company', 'email'), False), (('company', 'phone'), False))
    db.create_tables([Customer])

    class CampaignRecipient(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        campaign = ForeignKeyField(Campaign, on_delete='CASCADE')
        customer = ForeignKeyField(Customer, on_delete='CASCADE')
        status = CharField(max_length=16, default='pending')
        token = CharField(unique=True, max_length=64)
        claimed_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        sent_at = DateTimeField(null=True)
        opened_at = DateTimeField(null=True)
        clicked_at = DateTimeField(null=True)
        converted_at = DateTimeField(null=True)
        unsubscribed_at = DateTimeField(null=True)
        error = TextField(null=True)
        class Meta:
            database = db
            table_name = 'cms_campaign_recipients'
            indexes = ((('campaign', 'customer'), True), (('campaign', 'status'), False))
    db.create_tables([CampaignRecipient])

    class CampaignEvent(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        recipient = ForeignKeyField(CampaignRecipient, on_delete='CASCADE')
        kind = CharField(max_length=16)
        url = TextField(null=True)
        occurred_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_campaign_events'
    db.create_tables([CampaignEvent])

    class Communication(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        communicable_type = CharField(max_length=16)
        communicable_id = IntegerField()
        type = CharField(max_length=16)
        direction = CharField(max_length=8, default='outbound')
        subject = CharField(null=True)
        content = TextField(default='')
        communicated_at = DateTimeField()
        duration_minutes = IntegerField(null=True)
        attachments = TextField(default=list)
        author = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        permalink = CharField(null=True, max_length=500)
        class Meta:
            database = db
            table_name = 'cms_communications'
            indexes = ((('company', 'communicable_type', 'communicable_id', 'communicated_at'), False),)
    db.create_tables([Communication])

    class CustomerMetric(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        customer = ForeignKeyField(Customer, unique=True, on_delete='CASCADE')
        order_count = IntegerField(default=0)
        lifetime_value = BigIntegerField(default=0)
        average_order_value = BigIntegerField(default=0)
        purchase_frequency = FloatField(default=0)
        first_purchase_at = DateTimeField(null=True)
        last_purchase_at = DateTimeField(null=True)
        days_since_last_purchase = IntegerField(null=True)
        total_revenue = BigIntegerField(default=0)
        total_profit = BigIntegerField(default=0)
        profit_margin = FloatField(null=True)
        tier = CharField(max_length=16, default='bronze')
        churn_risk = CharField(null=True, max_length=8)
        computed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'cms_customer_metrics'
            indexes = ((('company', 'tier'), False),)
    db.create_tables([CustomerMetric])

    class FollowUp(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        followable_type = CharField(max_length=16)
        followable_id = IntegerField()
        title = CharField()
        notes = TextField(null=True)
        due_at = DateTimeField()
        priority = CharField(max_length=8, default='medium')
        assigned_to = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        status = CharField(max_length=16, default='pending')
        completed_at = DateTimeField(null=True)
        completion_notes = TextField(null=True)
        permalink = CharField(null=True, max_length=500)
        last_reminded_at = DateTimeField(null=True)
        reminder_count = IntegerField(default=0)
        snoozed_until = DateTimeField(null=True)
        reminder_claimed_at = DateTimeField(null=True)
        reminder_channel = CharField(null=True, max_length=32)
        reminder_ts = CharField(null=True, max_length=32)
        class Meta:
            database = db
            table_name = 'cms_follow_ups'
            indexes = ((('status', 'due_at'), False), (('company', 'status', 'due_at'), False), (('company', 'followable_type', 'followable_id'), False), (('assigned_to', 'status'), False))
    db.create_tables([FollowUp])

    class IdempotencyKey(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        key = CharField(max_length=200)
        entity_type = CharField(null=True, max_length=32)
        entity_id = IntegerField(null=True)
        change_id = CharField(null=True, max_length=32)
        class Meta:
            database = db
            table_name = 'cms_idempotency_keys'
            indexes = ((('company', 'key'), True),)
    db.create_tables([IdempotencyKey])

    class Opportunity(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        name = CharField(max_length=200)
        customer = ForeignKeyField(Customer, null=True, on_delete='SET NULL')
        lead = ForeignKeyField(Lead, null=True, on_delete='SET NULL')
        amount = BigIntegerField(default=0)
        probability = IntegerField(default=10)
        probability_explicit = BooleanField(default=False)
        stage = CharField(max_length=16, default='prospecting')
        expected_close_date = DateField(null=True)
        actual_close_date = DateField(null=True)
        assigned_to = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        loss_reason = TextField(null=True)
        last_contacted_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'cms_opportunities'
            indexes = ((('company', 'stage'), False), (('company', 'assigned_to', 'stage'), False))
    db.create_tables([Opportunity])

    class Order(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        customer = ForeignKeyField(Customer, on_delete='CASCADE')
        amount = BigIntegerField()
        cost = BigIntegerField(null=True)
        ordered_at = DateTimeField()
        external_ref = CharField(null=True, max_length=100)
        opportunity = ForeignKeyField(Opportunity, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'cms_orders'
            indexes = ((('company', 'external_ref'), True), (('customer', 'ordered_at'), False))
    db.create_tables([Order])

    class SlackInstallation(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        client_id = CharField(max_length=64, default='')
        enterprise_id = CharField(null=True, max_length=32)
        team_id = CharField(null=True, max_length=32)
        user_id = CharField(max_length=32, default='')
        bot_token = TextField(null=True)
        bot_id = CharField(null=True, max_length=32)
        bot_user_id = CharField(null=True, max_length=32)
        data = TextField(default=dict)
        installed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_installations'
            indexes = ((('client_id', 'enterprise_id', 'team_id', 'installed_at'), False),)
    db.create_tables([SlackInstallation])

    class SlackOAuthState(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        state = CharField(unique=True, max_length=200)
        expire_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'slack_oauth_states'
    db.create_tables([SlackOAuthState])

    class StageChange(Model):
        created_at = DateTimeField()
        updated_at = DateTimeField()
        company = ForeignKeyField(Company, field=Company.id, on_delete='CASCADE')
        entity_type = CharField(max_length=16)
        entity_id = IntegerField()
        from_stage = CharField(null=True, max_length=16)
        to_stage = CharField(max_length=16)
        changed_at = DateTimeField()
        actor = ForeignKeyField(Member, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'cms_stage_changes'
            indexes = ((('company', 'entity_type', 'entity_id'), False), (('company', 'entity_type', 'to_stage', 'changed_at'), False))
    db.create_tables([StageChange])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('cms_stage_changes'))
    migrator.migrate(migrator.drop_table('slack_oauth_states'))
    migrator.migrate(migrator.drop_table('slack_installations'))
    migrator.migrate(migrator.drop_table('cms_orders'))
    migrator.migrate(migrator.drop_table('cms_opportunities'))
    migrator.migrate(migrator.drop_table('cms_idempotency_keys'))
    migrator.migrate(migrator.drop_table('cms_follow_ups'))
    migrator.migrate(migrator.drop_table('cms_customer_metrics'))
    migrator.migrate(migrator.drop_table('cms_communications'))
    migrator.migrate(migrator.drop_table('cms_campaign_events'))
    migrator.migrate(migrator.drop_table('cms_campaign_recipients'))
    migrator.migrate(migrator.drop_table('cms_customers'))
    migrator.migrate(migrator.drop_table('cms_leads'))
    migrator.migrate(migrator.drop_table('cms_campaigns'))
    migrator.migrate(migrator.drop_table('cms_customer_segments'))
    migrator.migrate(migrator.drop_table('cms_audit_log'))
    migrator.migrate(migrator.drop_table('cms_members'))
    migrator.migrate(migrator.drop_table('cms_api_tokens'))
    migrator.migrate(migrator.drop_table('cms_companies'))
