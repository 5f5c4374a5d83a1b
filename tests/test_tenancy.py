"""Rule 8 / SPEC 10, proven for every use case: company A's actors never reach company B.

Why a registry and not one test per module: the property ("a record of another workspace is
'not found', never used, and nothing of it changes") must hold for every id-bearing argument of
every use case, including the ones written after this file. So every case below is one call of
a use case with an actor of A (admin, rep, API token, system) aimed at B, and:

- its outcome must equal the outcome of the same call with ids that exist nowhere (so B's
  records are indistinguishable from missing ones), and be ``NotFound`` saying "not found"
  whenever the actor's role allows the action at all (a refusal by role comes before any
  lookup, so it does not tell B's records from missing ones either);
- nothing it returns or raises carries a row of B (or B's names);
- a fingerprint of every B row in every tenant table (and B's company row) is unchanged;
- no row of A points at a row of B afterwards (foreign keys and ``*_type``/``*_id`` pairs).

Listings and totals name no record; they are cases too (nothing of B in what they return), and
:func:`test_reads_of_a_are_the_same_with_or_without_b` shows B's whole world changes none of
A's lists, analytics or exports. B's world and the checks live in ``tests/tenancy_support.py``.

:func:`test_registry_covers_every_use_case` introspects the ``crm`` package: every public
function whose first parameter is ``actor`` must appear in the registry or in ``EXCLUDED``
with the reason, so a new use case cannot escape the property.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm
from crm import (
    analytics,
    audit,
    collections,
    communications,
    companies,
    customer_value,
    customers,
    duplicates,
    followups,
    idempotency,
    importexport,
    leads,
    opportunities,
    permissions,
    search,
    segments,
    tenancy,
    tokens,
)
from crm.acting import Actor
from crm.campaigns import cards as campaign_cards
from crm.campaigns import optouts as campaign_optouts
from crm.campaigns import service as campaign_service
from crm.clock import utcnow
from crm.errors import Conflict
from crm.insight.leadscore import lead_scores
from crm.models import Company, Customer, CustomerSegment, Lead
from tests.conftest import Workspace, make_workspace
from tests.tenancy_support import (
    API_KEY,
    MARK,
    NO_CHANGE,
    Case,
    Ctx,
    Refs,
    World,
    build_a,
    build_b,
    check_case,
    fingerprint,
    outcome_of,
)


def _late(target: str) -> Callable[..., Any]:
    """A use case of a module that may not exist in every checkout yet (looked up at call)."""
    module, name = target.split(".")
    return lambda *args, **kwargs: getattr(importlib.import_module(f"crm.{module}"), name)(
        *args, **kwargs
    )


def _exists(target: str) -> bool:
    return importlib.util.find_spec(f"crm.{target.split('.')[0]}") is not None


def _csv(c: Ctx, kind: str, header: str, row: str) -> importexport.ImportReport:
    path = c.tmp / f"{kind}.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    return importexport.import_csv(c.actor, kind, path)


def _copy_or_twins(c: Ctx, model: type[Lead | Customer], email: str, create: Callable) -> Any:
    """Creating with B's email makes A's record; A's own earlier copy may be a twin."""
    mine = model.select().where((model.company == c.actor.company_id) & (model.email == email))
    existed = mine.exists()
    try:
        record = create()
    except duplicates.DuplicateFound as exc:
        assert existed, f"a duplicate was reported with no twin in A: {exc.message}"
        return exc.candidates
    assert not existed and record.company_id == c.actor.company_id
    return record


def _own_import(c: Ctx, kind: str, header: str, row: str, present: Callable[[], bool]) -> Any:
    existed = present()
    report = _csv(c, kind, header, row)
    assert not report.rejected, report.rejected
    assert (report.created, report.already_present) == ((0, 1) if existed else (1, 0)), report
    assert present()
    return report


def _own_segment(c: Ctx) -> Any:
    name = c.b.segment_name
    mine = CustomerSegment.select().where(
        (CustomerSegment.company == c.actor.company_id) & (CustomerSegment.name == name)
    )
    existed = mine.exists()
    try:
        segment = segments.create_segment(c.actor, name=name, criteria={"tier": "gold"})
    except Conflict:
        assert existed, "B's segment name blocked A's"
        return None
    assert not existed
    return segment


def _all_mine(records: list[Any], c: Ctx) -> list[Any]:
    for record in records:
        _mine(record, c)
    return records


def _own_claim(c: Ctx) -> str:
    """B's Idempotency-Key is free in A: A's request runs (and gives its key back)."""
    claim = idempotency.claim_request(c.actor, API_KEY, "a" * 64)
    assert claim.mine
    idempotency.release_request(c.actor, API_KEY)
    return "claimed"


def _mine(record: Any, c: Ctx) -> Any:
    assert record.company_id == c.actor.company_id
    return record


def _analytics(fn: Callable[..., Any]) -> Callable[[Ctx, Refs], Any]:
    return lambda c, r: fn(c.actor, member_id=r.member)


_LEADS_HEADER = "name,assigned_to"
_NOT_MEMBER = ("not found", "not a member of this workspace")
_L, _C, _O = leads, customers, opportunities
DUE = timedelta(days=1)

_REGISTRY: tuple[Case, ...] = (
    # leads
    Case("get_lead", ("leads.get_lead",), lambda c, r: _L.get_lead(c.actor, r.lead)),
    Case("set_lead_status", ("leads.set_lead_status",),
         lambda c, r: _L.set_lead_status(c.actor, r.lead, "contacted")),
    Case("update_lead B lead", ("leads.update_lead",),
         lambda c, r: _L.update_lead(c.actor, r.lead, name="Ada Renamed")),
    Case("update_lead B assignee", ("leads.update_lead",),
         lambda c, r: _L.update_lead(c.actor, c.a_lead, assigned_to_id=r.member)),
    Case("assign_lead B lead", ("leads.assign_lead",),
         lambda c, r: _L.assign_lead(c.actor, r.lead, None)),
    Case("assign_lead B member", ("leads.assign_lead",),
         lambda c, r: _L.assign_lead(c.actor, c.a_lead, r.member)),
    Case("convert_lead", ("leads.convert_lead",), lambda c, r: _L.convert_lead(c.actor, r.lead)),
    Case("create_lead B assignee", ("leads.create_lead",),
         lambda c, r: _L.create_lead(c.actor, name="Ada New", assigned_to_id=r.member,
                                     allow_duplicate=True)),
    Case("create_lead B idempotency key", ("leads.create_lead",),
         lambda c, r: _mine(_L.create_lead(c.actor, name="Ada Keyed", assigned_to_id=None,
                                           idempotency_key=c.b.lead_key), c), "own"),
    Case("create_lead B email", ("leads.create_lead",),
         lambda c, r: _copy_or_twins(c, Lead, c.b.copy_lead[1], lambda: _L.create_lead(
             c.actor, name="Ada Copy", email=c.b.copy_lead[1], assigned_to_id=None)), "own"),
    Case("list_leads B assignee", ("leads.list_leads",),
         lambda c, r: _L.list_leads(c.actor, assigned_to_id=r.member), "same"),
    Case("list_leads", ("leads.list_leads",), lambda c, r: _L.list_leads(c.actor, limit=200),
         "own"),
    Case("list_leads by score", ("leads.list_leads",),
         lambda c, r: _L.list_leads(c.actor, sort="score", limit=200), "own"),
    Case("lead_scores", ("insight.leadscore.lead_scores",),
         lambda c, r: lead_scores(c.actor, [r.lead]), "same"),
    Case("resolve_assignee", ("leads.resolve_assignee",),
         lambda c, r: _L.resolve_assignee(c.actor, r.member)),
    # customers and orders
    Case("get_customer", ("customers.get_customer",),
         lambda c, r: _C.get_customer(c.actor, r.customer)),
    Case("update_customer B customer", ("customers.update_customer",),
         lambda c, r: _C.update_customer(c.actor, r.customer, industry="retail")),
    Case("update_customer B assignee", ("customers.update_customer",),
         lambda c, r: _C.update_customer(c.actor, c.a_customer, assigned_to_id=r.member)),
    Case("unsubscribe", ("customers.unsubscribe",),
         lambda c, r: _C.unsubscribe(c.actor, r.customer, "email")),
    Case("add_order B customer", ("customers.add_order",),
         lambda c, r: _C.add_order(c.actor, r.customer, amount=Decimal(10))),
    Case("add_order B opportunity", ("customers.add_order",),
         lambda c, r: _C.add_order(c.actor, c.a_customer, amount=Decimal(10),
                                   opportunity_id=r.opportunity)),
    Case("add_order B external ref", ("customers.add_order",),
         lambda c, r: _mine(_C.add_order(c.actor, c.a_customer, amount=Decimal(10),
                                         external_ref=c.b.order_ref), c), "own"),
    Case("list_orders", ("customers.list_orders",),
         lambda c, r: _C.list_orders(c.actor, r.customer)),
    Case("create_customer B assignee", ("customers.create_customer",),
         lambda c, r: _C.create_customer(c.actor, name="Ada New", assigned_to_id=r.member,
                                         allow_duplicate=True)),
    Case("create_customer B idempotency key", ("customers.create_customer",),
         lambda c, r: _mine(_C.create_customer(c.actor, name="Ada Keyed", assigned_to_id=None,
                                               idempotency_key=c.b.customer_key), c), "own"),
    Case("create_customer B email", ("customers.create_customer",),
         lambda c, r: _copy_or_twins(c, Customer, c.b.copy_customer_email,
                                     lambda: _C.create_customer(
                                         c.actor, name="Ada Copy", assigned_to_id=None,
                                         email=c.b.copy_customer_email)), "own"),
    Case("list_customers search B name", ("customers.list_customers",),
         lambda c, r: _C.list_customers(c.actor, search=MARK), "own"),
    # opportunities
    Case("get_opportunity", ("opportunities.get_opportunity",),
         lambda c, r: _O.get_opportunity(c.actor, r.opportunity)),
    Case("move_stage", ("opportunities.move_stage",),
         lambda c, r: _O.move_stage(c.actor, r.opportunity, "qualification")),
    Case("mark_won", ("opportunities.mark_won",),
         lambda c, r: _O.mark_won(c.actor, r.opportunity, amount=Decimal(10))),
    Case("mark_lost", ("opportunities.mark_lost",),
         lambda c, r: _O.mark_lost(c.actor, r.opportunity, reason="price")),
    Case("update_opportunity B deal", ("opportunities.update_opportunity",),
         lambda c, r: _O.update_opportunity(c.actor, r.opportunity, name="Ada Renamed")),
    Case("update_opportunity B customer", ("opportunities.update_opportunity",),
         lambda c, r: _O.update_opportunity(c.actor, c.a_opportunity, customer_id=r.customer)),
    Case("update_opportunity B lead", ("opportunities.update_opportunity",),
         lambda c, r: _O.update_opportunity(c.actor, c.a_opportunity, lead_id=r.lead)),
    Case("update_opportunity B assignee", ("opportunities.update_opportunity",),
         lambda c, r: _O.update_opportunity(c.actor, c.a_opportunity, assigned_to_id=r.member)),
    Case("create_opportunity B customer", ("opportunities.create_opportunity",),
         lambda c, r: _O.create_opportunity(c.actor, name="Ada", customer_id=r.customer,
                                            amount=Decimal(10))),
    Case("create_opportunity B lead", ("opportunities.create_opportunity",),
         lambda c, r: _O.create_opportunity(c.actor, name="Ada", lead_id=r.lead,
                                            amount=Decimal(10))),
    Case("create_opportunity B assignee", ("opportunities.create_opportunity",),
         lambda c, r: _O.create_opportunity(c.actor, name="Ada", customer_id=c.a_customer,
                                            amount=Decimal(10), assigned_to_id=r.member)),
    Case("create_opportunity B idempotency key", ("opportunities.create_opportunity",),
         lambda c, r: _mine(_O.create_opportunity(
             c.actor, name="Ada Keyed", customer_id=c.a_customer, amount=Decimal(10),
             idempotency_key=c.b.opportunity_key), c), "own"),
    Case("list_opportunities B assignee", ("opportunities.list_opportunities",),
         lambda c, r: _O.list_opportunities(c.actor, assigned_to_id=r.member), "same"),
    Case("list_opportunities", ("opportunities.list_opportunities",),
         lambda c, r: _O.list_opportunities(c.actor, limit=200), "own"),
    # communications
    Case("log_communication", ("communications.log_communication",),
         lambda c, r: communications.log_communication(
             c.actor, subject_type=r.subject[0], subject_id=r.subject[1], type="call")),
    Case("list_communications", ("communications.list_communications",),
         lambda c, r: communications.list_communications(c.actor, *r.subject)),
    # follow-ups
    Case("create_follow_up B subject", ("followups.create_follow_up",),
         lambda c, r: followups.create_follow_up(
             c.actor, subject_type=r.subject[0], subject_id=r.subject[1], title="Call",
             due_at=utcnow() + DUE)),
    Case("create_follow_up B assignee", ("followups.create_follow_up",),
         lambda c, r: followups.create_follow_up(
             c.actor, subject_type="lead", subject_id=c.a_lead, title="Call",
             due_at=utcnow() + DUE, assigned_to_id=r.member)),
    Case("complete_follow_up", ("followups.complete_follow_up",),
         lambda c, r: followups.complete_follow_up(c.actor, r.follow_up, notes="done")),
    Case("cancel_follow_up", ("followups.cancel_follow_up",),
         lambda c, r: followups.cancel_follow_up(c.actor, r.follow_up)),
    Case("snooze_follow_up", ("followups.snooze_follow_up",),
         lambda c, r: followups.snooze_follow_up(c.actor, r.follow_up, utcnow() + DUE)),
    Case("update_follow_up", ("followups.update_follow_up",),
         lambda c, r: followups.update_follow_up(c.actor, r.follow_up, title="Moved")),
    Case("update_follow_up B assignee", ("followups.update_follow_up",),
         lambda c, r: followups.update_follow_up(c.actor, c.a_follow_up, assigned_to_id=r.member)),
    Case("find_records B words", ("search.find_records",),
         lambda c, r: search.find_records(c.actor, "Zqx"), "own"),
    Case("find_records B email", ("search.find_records",),
         lambda c, r: search.find_records(c.actor, "rich@globex-b.example"), "own"),
    Case("get_follow_up", ("followups.get_follow_up",),
         lambda c, r: followups.get_follow_up(c.actor, r.follow_up)),
    Case("list_follow_ups B assignee", ("followups.list_follow_ups",),
         lambda c, r: followups.list_follow_ups(c.actor, assigned_to_id=r.member), "same"),
    Case("list_follow_ups team", ("followups.list_follow_ups",),
         lambda c, r: followups.list_follow_ups(c.actor, team=True, only="all"), "own"),
    # segments
    Case("get_segment", ("segments.get_segment",),
         lambda c, r: segments.get_segment(c.actor, r.segment)),
    Case("update_segment", ("segments.update_segment",),
         lambda c, r: segments.update_segment(c.actor, r.segment, description="x"),
         gate="manage_segments"),
    Case("segment_customers", ("segments.segment_customers",),
         lambda c, r: segments.segment_customers(c.actor, r.segment)),
    Case("sample_segment", ("segments.sample_segment",),
         lambda c, r: segments.sample_segment(c.actor, r.segment)),
    Case("create_segment B name", ("segments.create_segment",),
         lambda c, r: _own_segment(c), "own", gate="manage_segments"),
    Case("list_segments", ("segments.list_segments",),
         lambda c, r: segments.list_segments(c.actor, active_only=False), "own"),
    # campaigns
    Case("get_campaign", ("campaigns.service.get_campaign",),
         lambda c, r: campaign_service.get_campaign(c.actor, r.campaign)),
    Case("attach a campaign's live card", ("campaigns.cards.attach",),
         lambda c, r: campaign_cards.attach(c.actor, r.campaign, "D0CARD", "1.000100")),
    Case("preview campaign", ("campaigns.service.preview",),
         lambda c, r: campaign_service.preview(c.actor, r.campaign)),
    Case("update_campaign", ("campaigns.service.update_campaign",),
         lambda c, r: campaign_service.update_campaign(c.actor, r.campaign, name="x"),
         gate="manage_campaigns"),
    Case("schedule campaign", ("campaigns.service.schedule",),
         lambda c, r: campaign_service.schedule(c.actor, r.campaign, utcnow() + DUE),
         gate="manage_campaigns"),
    Case("send_now campaign", ("campaigns.service.send_now",),
         lambda c, r: campaign_service.send_now(c.actor, r.campaign), gate="manage_campaigns"),
    Case("pause campaign", ("campaigns.service.pause",),
         lambda c, r: campaign_service.pause(c.actor, r.campaign), gate="manage_campaigns"),
    Case("resume campaign", ("campaigns.service.resume",),
         lambda c, r: campaign_service.resume(c.actor, r.campaign), gate="manage_campaigns"),
    Case("cancel campaign", ("campaigns.service.cancel",),
         lambda c, r: campaign_service.cancel(c.actor, r.campaign), gate="manage_campaigns"),
    Case("create_campaign B segment", ("campaigns.service.create_campaign",),
         lambda c, r: campaign_service.create_campaign(
             c.actor, name="x", segment_id=r.segment, subject="s", body="b"),
         gate="manage_campaigns"),
    Case("create_campaign B customer", ("campaigns.service.create_campaign",),
         lambda c, r: campaign_service.create_campaign(
             c.actor, name="x", customer_ids=[r.customer], subject="s", body="b"),
         gate="manage_campaigns"),
    Case("list_campaigns", ("campaigns.service.list_campaigns",),
         lambda c, r: campaign_service.list_campaigns(c.actor), "own"),
    Case("last_week campaigns", ("campaigns.service.last_week",),
         lambda c, r: campaign_service.last_week(c.actor), "own"),
    Case("pause_all campaigns", ("campaigns.service.pause_all",),
         lambda c, r: [_mine(x, c) for x in campaign_service.pause_all(c.actor)], "own",
         gate="manage_settings"),
    Case("list_optouts", ("campaigns.optouts.list_optouts",),
         lambda c, r: campaign_optouts.list_optouts(c.actor, r.customer)),
    # metrics and analytics
    Case("get_metrics", ("customer_value.get_metrics",),
         lambda c, r: customer_value.get_metrics(c.actor, r.customer)),
    Case("pipeline_summary B member", ("analytics.pipeline_summary",),
         _analytics(analytics.pipeline_summary), gate="team_analytics"),
    Case("win_loss B member", ("analytics.win_loss",),
         _analytics(analytics.win_loss), gate="team_analytics"),
    Case("velocity B member", ("analytics.velocity",),
         _analytics(analytics.velocity), gate="team_analytics"),
    # tokens, companies, members
    Case("revoke_token", ("tokens.revoke_token",),
         lambda c, r: tokens.revoke_token(c.actor, r.token), gate="manage_tokens"),
    Case("create_token", ("tokens.create_token",),
         lambda c, r: _mine(tokens.create_token(c.actor, "Ada")[0], c), "own",
         gate="manage_tokens"),
    Case("list_tokens", ("tokens.list_tokens",), lambda c, r: tokens.list_tokens(c.actor),
         "own", gate="manage_tokens"),
    Case("set_role", ("companies.set_role",),
         lambda c, r: companies.set_role(c.actor, r.member, "manager"), gate="manage_roles"),
    Case("update_settings", ("companies.update_settings",),
         lambda c, r: _mine_company(companies.update_settings(c.actor, digest_channel="C0A"), c),
         "own", gate="manage_settings"),
    Case("members", ("companies.members",), lambda c, r: companies.members(c.actor), "own"),
    Case("get_company", ("companies.get_company",),
         lambda c, r: _mine_company(companies.get_company(c.actor), c), "own"),
    Case("slack_user_ids B member", ("companies.slack_user_ids",),
         lambda c, r: companies.slack_user_ids(c.actor, [r.member]), "same"),
    # audit and idempotency
    Case("revert B change", ("audit.revert",), lambda c, r: audit.revert(c.actor, r.change_id)),
    Case("change_rows B change", ("audit.change_rows",),
         lambda c, r: audit.change_rows(c.actor, r.change_id), "same"),
    Case("history B record", ("audit.history",),
         lambda c, r: audit.history(c.actor, *r.entity), "same"),
    Case("seen B key", ("idempotency.seen",),
         lambda c, r: idempotency.seen(c.actor, c.b.lead_key), "own"),
    Case("once B key", ("idempotency.once",),
         lambda c, r: _mine(idempotency.once(c.actor, c.b.lead_key, Lead, lambda: _L.create_lead(
             c.actor, name="Ada Once", assigned_to_id=None, allow_duplicate=True))[0], c), "own"),
    Case("claim_request B API key", ("idempotency.claim_request", "idempotency.release_request"),
         lambda c, r: _own_claim(c), "own"),
    Case("finish_request B API key", ("idempotency.finish_request",),
         lambda c, r: idempotency.finish_request(c.actor, API_KEY, 201, "{}"), "own"),
    Case("remember B key", ("idempotency.remember",),
         lambda c, r: _mine(idempotency.remember(
             c.actor, c.b.customer_key, Customer.get_by_id(c.a_customer), NO_CHANGE), c), "own"),
    # the JSON API's keyset pages
    Case("collections.leads", ("collections.leads",),
         lambda c, r: _all_mine(collections.leads(c.actor, limit=500, q=MARK), c), "own"),
    Case("collections.leads B assignee", ("collections.leads",),
         lambda c, r: collections.leads(c.actor, assigned_to_id=r.member), "same"),
    Case("converted_customers B lead", ("collections.converted_customers",),
         lambda c, r: collections.converted_customers(
             c.actor, [Lead(id=r.lead, converted_at=utcnow())]), "same"),
    Case("collections.customers", ("collections.customers",),
         lambda c, r: _all_mine(collections.customers(c.actor, limit=500, q=MARK), c), "own"),
    Case("metrics_of B customer", ("collections.metrics_of",),
         lambda c, r: collections.metrics_of(c.actor, [Customer(id=r.customer)]), "same"),
    Case("collections.opportunities B customer", ("collections.opportunities",),
         lambda c, r: collections.opportunities(c.actor, customer_id=r.customer), "same"),
    Case("collections.communications B subject", ("collections.communications",),
         lambda c, r: collections.communications(
             c.actor, subject_type=r.subject[0], subject_id=r.subject[1]), "same"),
    Case("collections.follow_ups B subject", ("collections.follow_ups",),
         lambda c, r: collections.follow_ups(
             c.actor, subject_type=r.subject[0], subject_id=r.subject[1], status="overdue"),
         "same"),
    Case("collections.segments", ("collections.segments",),
         lambda c, r: _all_mine(collections.segments(c.actor, limit=500), c), "own"),
    Case("collections.campaigns", ("collections.campaigns",),
         lambda c, r: _all_mine(collections.campaigns(c.actor, limit=500), c), "own"),
    # tenancy helpers and the duplicate finder
    Case("fetch_member", ("tenancy.fetch_member",),
         lambda c, r: tenancy.fetch_member(c.actor, r.member)),
    Case("fetch_subject", ("tenancy.fetch_subject",),
         lambda c, r: tenancy.fetch_subject(c.actor, *r.subject)),
    Case("find_duplicates leads", ("duplicates.find_duplicates",),
         lambda c, r: duplicates.find_duplicates(
             c.actor, Lead, name=c.b.copy_lead[0], email=c.b.copy_lead[1], exclude_id=r.lead),
         "own"),
    Case("find_duplicates customers", ("duplicates.find_duplicates",),
         lambda c, r: duplicates.find_duplicates(
             c.actor, Customer, name=f"{MARK} Rich", email=c.b.customer_email), "own"),
    Case("refuse_duplicates customers", ("duplicates.refuse_duplicates",),
         lambda c, r: duplicates.refuse_duplicates(
             c.actor, Customer, {"name": f"{MARK} Rich", "email": c.b.customer_email}), "own"),
    # CSV import and export
    Case("import order for B customer ref", ("importexport.import_csv",),
         lambda c, r: _csv(c, "orders", "customer,amount", f"C{r.customer},10")),
    Case("import order for B customer id", ("importexport.import_csv",),
         lambda c, r: _csv(c, "orders", "customer,amount", f"{r.customer},10")),
    Case("import order for B customer email", ("importexport.import_csv",),
         lambda c, r: _csv(c, "orders", "customer,amount", f"{r.customer_email},10"),
         wording=("not found", "no customer has the email")),
    Case("import lead assigned to B member id", ("importexport.import_csv",),
         lambda c, r: _csv(c, "leads", _LEADS_HEADER, f"Ada Import,{r.handle}"),
         wording=_NOT_MEMBER),
    Case("import lead assigned to B member email", ("importexport.import_csv",),
         lambda c, r: _csv(c, "leads", _LEADS_HEADER, f"Ada Import,{r.member_email}"),
         wording=_NOT_MEMBER),
    Case("import order with B order ref", ("importexport.import_csv",),
         lambda c, r: _own_import(
             c, "orders", "customer,amount,ref", f"C{c.a_customer},10,{c.b.order_ref}",
             lambda: c.b.order_ref in {o.external_ref for o in _C.list_orders(c.actor,
                                                                              c.a_customer)}),
         "own"),
    Case("import customer with B email", ("importexport.import_csv",),
         lambda c, r: _own_import(
             c, "customers", "name,email", f"Ada Imported,{c.b.copy_customer_email}",
             lambda: Customer.select().where(
                 (Customer.company == c.actor.company_id)
                 & (Customer.email == c.b.copy_customer_email)).exists()),
         "own"),
    Case("export", ("importexport.export_csv",), lambda c, r: _export_all(c), "own"),
    # record cards (Slack's "open record")
    Case("lead_card", ("cards.lead_card",),
         lambda c, r: _late("cards.lead_card")(c.actor, r.lead)),
    Case("opportunity_card", ("cards.opportunity_card",),
         lambda c, r: _late("cards.opportunity_card")(c.actor, r.opportunity)),
    Case("customer_card", ("cards.customer_card",),
         lambda c, r: _late("cards.customer_card")(c.actor, r.customer)),
    Case("record_card", ("cards.record_card",),
         lambda c, r: _late("cards.record_card")(c.actor, *r.subject)),
    Case("people_of B members", ("cards.people_of",),
         lambda c, r: _late("cards.people_of")(c.actor, {r.member}), "same"),
)  # fmt: skip
CASES: tuple[Case, ...] = tuple(
    case for case in _REGISTRY if all(_exists(target) for target in case.targets)
)


def _mine_company(company: Company, c: Ctx) -> Company:
    assert company.id == c.actor.company_id
    return company


def _export_all(c: Ctx) -> list[str]:
    texts = []
    for kind in importexport.KINDS:
        path = c.tmp / f"export-{kind}.csv"
        importexport.export_csv(c.actor, kind, path)
        texts.append(path.read_text(encoding="utf-8"))
    return texts


EXCLUDED: dict[str, str] = {
    "audit.change": "the transaction context of a use case; it takes no record id",
    "duplicates.phone_region": "reads the actor's own company row; it takes no id",
    "idempotency.replay": "takes the row that seen() returned for the same actor, never an id "
    "from outside; seen() and remember() with B's keys are in the registry",
    "permissions.has": "a pure decision on the actor's role; it reads nothing",
    "permissions.require": "a pure decision on the actor's role; it reads nothing",
    "permissions.can_edit": "a pure decision on a record the caller already fetched in scope",
    "permissions.require_edit": "a pure decision on a record the caller already fetched in scope",
    "permissions.require_undo": "a pure decision on records audit.revert already fetched in "
    "scope (revert is in the registry)",
}


# --- tests ----------------------------------------------------------------------------------------


@pytest.fixture
def two_companies(acme: Workspace, globex: Workspace, tmp_path: Path) -> tuple[dict, dict, World]:
    actors, own = build_a(acme)
    world = build_b(globex)
    return actors, own, world


def _ctx(actor: Actor, own: dict[str, int], world: World, tmp: Path) -> Ctx:
    return Ctx(actor=actor, b=world, tmp=tmp, **own)


def test_world_of_b_fills_every_tenant_table(two_companies: tuple, db: Any) -> None:
    """Otherwise "nothing of B changed" would be vacuous for the empty tables."""
    _, _, world = two_companies
    empty = [table for table, rows in fingerprint(world.company_id).items() if not rows]
    assert empty == []


def test_every_case_from_every_actor_finds_nothing_of_b(
    two_companies: tuple, tmp_path: Path
) -> None:
    actors, own, world = two_companies
    ctxs = {kind: _ctx(actor, own, world, tmp_path) for kind, actor in actors.items()}
    failures = []
    for k, case in enumerate(CASES):  # B's records in turn: each state meets many use cases
        failures += check_case(case, ctxs, world.refs(lambda xs, k=k: xs[k % len(xs)]))
    assert not failures, "\n\n".join(failures)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_case_any_record_of_b(two_companies: tuple, tmp_path: Path, data: Any) -> None:
    """Every state of B's records (unassigned, the rep's, lost, won, converted, revoked,
    inactive...) is as unreachable as the first."""
    actors, own, world = two_companies
    case = data.draw(st.sampled_from(CASES), label="case")
    kind = data.draw(st.sampled_from(sorted(actors)), label="actor")
    refs = world.refs(lambda xs: data.draw(st.sampled_from(xs)))
    failures = check_case(case, {kind: _ctx(actors[kind], own, world, tmp_path)}, refs)
    assert not failures, "\n\n".join(failures)


def _reads(ctx: Ctx, now: Any) -> list[Any]:
    """Everything an actor of A can list or total without naming a record."""
    actor = ctx.actor
    team = permissions.has(actor, "team_analytics")
    calls: tuple[Callable[[], Any], ...] = (
        lambda: leads.list_leads(actor, limit=200),
        lambda: customers.list_customers(actor, limit=200),
        lambda: customers.list_orders(actor, ctx.a_customer),
        lambda: opportunities.list_opportunities(actor, limit=200),
        lambda: followups.list_follow_ups(actor, team=True, only="all"),
        lambda: segments.list_segments(actor, active_only=False),
        lambda: tokens.list_tokens(actor),
        lambda: companies.members(actor),
        lambda: analytics.pipeline_summary(actor, team=team).as_dict(),
        lambda: analytics.win_loss(actor, team=team, now=now).as_dict(),
        lambda: analytics.velocity(actor, team=team, now=now).as_dict(),
        lambda: _export_all(ctx),
    )
    return [outcome_of(call)[0] for call in calls]


def test_reads_of_a_are_the_same_with_or_without_b(acme: Workspace, tmp_path: Path) -> None:
    """Listings, totals and exports of A (no id to aim at B) do not change when B's whole
    world appears next to A's: nothing of B is counted, listed or summed into them."""
    actors, own = build_a(acme)
    later = utcnow() + timedelta(days=1)
    ctxs = [_ctx(actor, own, None, tmp_path) for actor in actors.values()]  # type: ignore[arg-type]
    alone = [_reads(ctx, later) for ctx in ctxs]
    build_b(make_workspace("TGLOBEX", "Globex"))
    assert [_reads(ctx, later) for ctx in ctxs] == alone


def _use_cases() -> set[str]:
    """Every public function of the crm package whose first parameter is ``actor``."""
    found = set()
    for info in pkgutil.walk_packages(crm.__path__, "crm."):
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            params = list(inspect.signature(fn).parameters)
            if params and params[0] == "actor":
                # a use case re-exported by its package is known by the package's name
                where, _, _ = module.__name__.rpartition(".")
                if where == "crm" or getattr(importlib.import_module(where), name, None) is not fn:
                    where = module.__name__
                found.add(f"{where.removeprefix('crm.')}.{name}")
    return found


def test_registry_covers_every_use_case() -> None:
    """A new use case taking an actor must get a case here (or a reason in EXCLUDED)."""
    covered = {t for case in _REGISTRY for t in case.targets}
    missing = _use_cases() - covered - set(EXCLUDED)
    assert not missing, f"add tenancy cases to tests/test_tenancy.py for: {sorted(missing)}"
    assert not covered & set(EXCLUDED)
    assert len({case.name for case in _REGISTRY}) == len(_REGISTRY)
