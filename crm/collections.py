"""Keyset pages of the company's records for the JSON API (SPEC 8 lists).

Why keyset (``id > after ORDER BY id LIMIT n``) rather than the offsets of the Slack lists:
an integration walks every page while reps keep adding records; with offsets an insert
shifts every later page and the walk sees a record twice or misses one, with a keyset each
record is seen once and new ones come at the end. It is also one index range scan per page
however deep the walk goes. Each function returns up to ``limit + 1`` rows: the extra one
only tells the caller that another page exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from peewee import ModelSelect

from crm.acting import Actor
from crm.clock import utcnow
from crm.followups import _is_overdue
from crm.models import (
    Campaign,
    Communication,
    Customer,
    CustomerMetric,
    CustomerSegment,
    FollowUp,
    Lead,
    Opportunity,
)
from crm.parsing import parse_date, parse_datetime, parse_text
from crm.sql_cache import Statement

__all__ = [
    "communications",
    "converted_customers",
    "customers",
    "follow_ups",
    "leads",
    "metrics_of",
    "opportunities",
    "segments",
]


def _page(query: ModelSelect, model: Any, after: int | None, limit: int) -> list[Any]:
    if after is not None:
        query = query.where(model.id > after)
    return list(query.order_by(model.id).limit(limit + 1))


def _search(text: str | None) -> str | None:
    return parse_text(text, "q", 200) if text is not None else None


def _lead_page(
    company_id: int,
    after: int | None,
    limit: int,
    status: str | None,
    source: str | None,
    assigned_to_id: int | None,
) -> ModelSelect:
    query = Lead.scoped(company_id)
    if after is not None:
        query = query.where(Lead.id > after)
    if status is not None:
        query = query.where(Lead.status == status)
    if source is not None:
        query = query.where(Lead.source == source)
    if assigned_to_id is not None:
        query = query.where(Lead.assigned_to == assigned_to_id)
    return query.order_by(Lead.id).limit(limit)


# the integrations' most frequent call: rendered once per filter combination (crm.sql_cache)
_LEAD_PAGE = Statement(_lead_page)


def leads(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    status: str | None = None,
    source: str | None = None,
    assigned_to_id: int | None = None,
    updated_since: str | None = None,
    q: str | None = None,
) -> list[Lead]:
    if updated_since is None and q is None:
        return _LEAD_PAGE.models(
            Lead,
            company_id=actor.company_id,
            after=after,
            limit=limit + 1,
            status=status,
            source=source,
            assigned_to_id=assigned_to_id,
        )
    query = Lead.scoped(actor)
    if status is not None:
        query = query.where(Lead.status == status)
    if source is not None:
        query = query.where(Lead.source == source)
    if assigned_to_id is not None:
        query = query.where(Lead.assigned_to == assigned_to_id)
    if updated_since is not None:
        query = query.where(
            Lead.updated_at >= parse_datetime(updated_since, "updated_since", actor.tz)
        )
    text = _search(q)
    if text:
        query = query.where(
            Lead.name.contains(text) | Lead.email.contains(text) | Lead.company_name.contains(text)
        )
    return _page(query, Lead, after, limit)


def converted_customers(actor: Actor, leads: Iterable[Lead]) -> dict[int, int]:
    """lead id -> id of the customer it became, for the converted ones among ``leads``."""
    ids = [lead.id for lead in leads if lead.converted_at is not None]
    if not ids:
        return {}
    rows = Customer.scoped(actor, Customer.id, Customer.lead).where(Customer.lead.in_(ids))
    return {row.lead_id: row.id for row in rows}


def opportunities(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    stage: str | None = None,
    assigned_to_id: int | None = None,
    customer_id: int | None = None,
    close_before: str | None = None,
    close_after: str | None = None,
) -> list[Opportunity]:
    query = Opportunity.scoped(actor)
    if stage is not None:
        query = query.where(Opportunity.stage == stage)
    if assigned_to_id is not None:
        query = query.where(Opportunity.assigned_to == assigned_to_id)
    if customer_id is not None:
        query = query.where(Opportunity.customer == customer_id)
    if close_before is not None:
        day: date = parse_date(close_before, "close_before", actor.tz)
        query = query.where(Opportunity.expected_close_date <= day)
    if close_after is not None:
        day = parse_date(close_after, "close_after", actor.tz)
        query = query.where(Opportunity.expected_close_date >= day)
    return _page(query, Opportunity, after, limit)


def communications(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    subject_type: str | None = None,
    subject_id: int | None = None,
    type: str | None = None,
) -> list[Communication]:
    query = Communication.scoped(actor)
    if subject_type is not None:
        query = query.where(Communication.communicable_type == subject_type)
    if subject_id is not None:
        query = query.where(Communication.communicable_id == subject_id)
    if type is not None:
        query = query.where(Communication.type == type)
    return _page(query, Communication, after, limit)


def follow_ups(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    status: str | None = None,
    assigned_to_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    now: datetime | None = None,
) -> list[FollowUp]:
    """``status`` is the effective one (rule 5: a pending follow-up past due is overdue even
    before the scan marks it)."""
    query = FollowUp.scoped(actor)
    if assigned_to_id is not None:
        query = query.where(FollowUp.assigned_to == assigned_to_id)
    if subject_type is not None:
        query = query.where(FollowUp.followable_type == subject_type)
    if subject_id is not None:
        query = query.where(FollowUp.followable_id == subject_id)
    if status is not None:
        now = now or utcnow()
        overdue = _is_overdue(now)  # rule 5's one definition
        if status == "overdue":
            query = query.where(overdue)
        elif status == "pending":
            query = query.where((FollowUp.status == "pending") & ~overdue)
        else:
            query = query.where(FollowUp.status == status)
    return _page(query, FollowUp, after, limit)


def customers(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    q: str | None = None,
    industry: str | None = None,
) -> list[Customer]:
    query = Customer.scoped(actor)
    if industry is not None:
        query = query.where(Customer.industry == industry)
    text = _search(q)
    if text:
        query = query.where(
            Customer.name.contains(text)
            | Customer.email.contains(text)
            | Customer.company_name.contains(text)
        )
    return _page(query, Customer, after, limit)


def metrics_of(actor: Actor, customers: Iterable[Customer]) -> dict[int, CustomerMetric]:
    ids = [c.id for c in customers]
    if not ids:
        return {}
    rows = CustomerMetric.scoped(actor).where(CustomerMetric.customer.in_(ids))
    return {row.customer_id: row for row in rows}


def segments(
    actor: Actor, *, after: int | None = None, limit: int = 50, is_active: bool | None = None
) -> list[CustomerSegment]:
    query = CustomerSegment.scoped(actor)
    if is_active is not None:
        query = query.where(CustomerSegment.is_active == is_active)
    return _page(query, CustomerSegment, after, limit)


def campaigns(
    actor: Actor,
    *,
    after: int | None = None,
    limit: int = 50,
    status: str | None = None,
    channel: str | None = None,
) -> list[Campaign]:
    query = Campaign.scoped(actor)
    if status is not None:
        query = query.where(Campaign.status == status)
    if channel is not None:
        query = query.where(Campaign.channel == channel)
    return _page(query, Campaign, after, limit)
