# Generated from a schema diff on 2026-12-06 04:45.
from peewee import *

def up(migrator, db):
    migrator.migrate(migrator.drop_index('cms_campaigns', 'campaign_company_id'))
    migrator.migrate(migrator.add_index('cms_campaigns', ('company_id', 'id')))
    migrator.migrate(migrator.add_index('cms_leads', ('company_id', 'id')))
    migrator.migrate(migrator.add_index('cms_customers', ('company_id', 'id')))
    migrator.migrate(migrator.add_index('cms_opportunities', ('company_id', 'id')))
    migrator.migrate(migrator.add_index('cms_communications', ('company_id', 'id')))
    migrator.migrate(migrator.add_index('cms_follow_ups', ('company_id', 'id')))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('cms_follow_ups', 'cms_follow_ups_company_id_id'))
    migrator.migrate(migrator.drop_index('cms_communications', 'cms_communications_company_id_id'))
    migrator.migrate(migrator.drop_index('cms_opportunities', 'cms_opportunities_company_id_id'))
    migrator.migrate(migrator.drop_index('cms_customers', 'cms_customers_company_id_id'))
    migrator.migrate(migrator.drop_index('cms_leads', 'cms_leads_company_id_id'))
    migrator.migrate(migrator.drop_index('cms_campaigns', 'cms_campaigns_company_id_id'))
    migrator.migrate(migrator.add_index('cms_campaigns', ('company_id',), name='campaign_company_id'))
