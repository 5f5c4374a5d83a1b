"""Record cards: everything one look at a lead, opportunity or customer shows, in one read.

A card (``/crm lead L12``, the "open record" button, App Home links) shows the record with its
recent communications, its open follow-ups and related deals. Adapters render it; gathering
it lives here so that the queries stay company-scoped (rule 8) and set-based: a fixed number
of queries per card, never one per row (the people a card names are fetched in one query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peewee import Case

from crm import tenancy
from crm.acting import Actor
from crm.clock import utcnow
from crm.communications import list_communications
from crm.followups import OPEN_STATUSES
from crm.leads import OPEN_STATUSES as OPEN_LEAD_STATUSES
from crm.models import (
    Communication,
    Customer,
    CustomerMetric,
    FollowUp,
    Lead,
    Member,
    Opportunity,
)

RECENT = 5  # communications, follow-ups and deals a card shows; the rest is a list away


@dataclass(frozen=True)
class Card:
    """A record and what surrounds it. ``people`` maps member ids to Slack user ids for every
    member the card names (assignee, authors), so a renderer never queries."""

    entity_type: str
    record: Any  # Lead | Opportunity | Customer
    communications: list[Communication]
    follow_ups: list[FollowUp]
    opportunities: list[Opportunity] = field(default_factory=list)
    metric: CustomerMetric | None = None
    lead: Lead | None = None  # an opportunity's lead, or the lead a customer came from
    customer: Customer | None = None  # an opportunity's customer, or a converted lead's
    people: dict[int, str] = field(default_factory=dict)
    # SPEC 13: a customer's CustomerOutlook or a lead's LeadExplanation (None: never fitted)
    insight: Any = None

    @property
    def ref(self) -> str:
        return tenancy.ref_label(self.entity_type, self.record.id)

    def person(self, member_id: int | None) -> str | None:
        """The Slack user id of a member the card names (None: nobody)."""
        return self.people.get(member_id) if member_id is not None else None


def _open_follow_ups(actor: Actor, subject_type: str, subject_id: int) -> list[FollowUp]:
    """Open follow-ups on the subject, overdue first (rule 5 whether or not the scan ran)."""
    now = utcnow()
    overdue = (FollowUp.status == "overdue") | (
        (FollowUp.status == "pending") & (FollowUp.due_at <= now)
    )
    return list(
        FollowUp.scoped(actor)
        .where(
            (FollowUp.followable_type == subject_type)
            & (FollowUp.followable_id == subject_id)
            & FollowUp.status.in_(OPEN_STATUSES)
        )
        .order_by(Case(None, [(overdue, 0)], 1), FollowUp.due_at, FollowUp.id)
        .limit(RECENT)
    )


def _opportunities(actor: Actor, where: Any) -> list[Opportunity]:
    return list(
        Opportunity.scoped(actor).where(where).order_by(Opportunity.id.desc()).limit(RECENT)
    )


def people_of(actor: Actor, ids: set[int | None]) -> dict[int, str]:
    """Slack user ids of the company's members among ``ids``, in one query (lists name
    assignees without a query per row)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = Member.scoped(actor, Member.id, Member.slack_user_id).where(Member.id.in_(wanted))
    return {m.id: m.slack_user_id for m in rows}


def _card(actor: Actor, entity_type: str, record: Any, **extra: Any) -> Card:
    comms = list_communications(actor, entity_type, record.id, limit=RECENT)
    follow_ups = _open_follow_ups(actor, entity_type, record.id)
    ids: set[int | None] = {record.assigned_to_id}
    ids |= {c.author_id for c in comms} | {f.assigned_to_id for f in follow_ups}
    ids |= {o.assigned_to_id for o in extra.get("opportunities", [])}
    return Card(
        entity_type,
        record,
        comms,
        follow_ups,
        people=people_of(actor, ids),
        **extra,
    )


def _customer_of_lead(actor: Actor, lead_id: int) -> Customer | None:
    return Customer.scoped(actor).where(Customer.lead == lead_id).first()


def lead_card(actor: Actor, lead_id: int) -> Card:
    lead = tenancy.fetch(Lead, actor, lead_id, "lead")
    customer = _customer_of_lead(actor, lead.id) if lead.converted_at else None
    opps = _opportunities(actor, Opportunity.lead == lead.id)
    insight = None
    if lead.status in OPEN_LEAD_STATUSES:
        from crm.insight.leadscore import explain_lead  # numpy loads with the first card

        insight = explain_lead(lead)
    return _card(actor, "lead", lead, opportunities=opps, customer=customer, insight=insight)


def opportunity_card(actor: Actor, opp_id: int) -> Card:
    opp = tenancy.fetch(Opportunity, actor, opp_id, "opportunity")
    customer = lead = None
    if opp.customer_id is not None:
        customer = Customer.scoped(actor).where(Customer.id == opp.customer_id).first()
    if opp.lead_id is not None:
        lead = Lead.scoped(actor).where(Lead.id == opp.lead_id).first()
    return _card(actor, "opportunity", opp, customer=customer, lead=lead)


def customer_card(actor: Actor, customer_id: int) -> Card:
    from crm.customer_value import get_metrics

    customer = tenancy.fetch(Customer, actor, customer_id, "customer")
    metric = get_metrics(actor, customer.id)
    opps = _opportunities(actor, Opportunity.customer == customer.id)
    lead = None
    if customer.lead_id is not None:
        lead = Lead.scoped(actor).where(Lead.id == customer.lead_id).first()
    from crm.insight.clv import customer_outlook  # numpy and scipy load with the first card

    insight = customer_outlook(actor.company_id, customer.id)
    return _card(
        actor, "customer", customer, opportunities=opps, metric=metric, lead=lead, insight=insight
    )


def record_card(actor: Actor, entity_type: str, record_id: int) -> Card:
    """The card of any lead, opportunity or customer (the "open record" button's entry)."""
    readers = {"lead": lead_card, "opportunity": opportunity_card, "customer": customer_card}
    reader = readers.get(entity_type)
    if reader is None:
        raise ValueError(f"no card for {entity_type!r}")
    return reader(actor, record_id)


__all__ = [
    "RECENT",
    "Card",
    "customer_card",
    "lead_card",
    "opportunity_card",
    "people_of",
    "record_card",
]
