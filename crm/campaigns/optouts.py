"""Opt-outs (SPEC 6): per customer and channel, with time and source, honoured by every later
campaign.

Two records, written together in the caller's transaction: a :class:`CampaignOptOut` row (when,
how: ``link``, ``one_click``, ``slack``, ``api``, ``import``, ``cli``; which campaign's link)
and the channel in the customer's ``unsubscribed`` list, the summary that the audience query,
the customer card and the customer export read. Recording the same opt-out twice changes
nothing and keeps the first time and source.
"""

from __future__ import annotations

from datetime import datetime

from crm import tenancy
from crm.acting import Actor
from crm.audit import ChangeSet, snapshot
from crm.clock import utcnow
from crm.models import CAMPAIGN_CHANNELS, OPT_OUT_SOURCES, CampaignOptOut, Customer
from crm.parsing import parse_choice

SOURCE_BY_ORIGIN = {"slack": "slack", "api": "api", "cli": "cli", "worker": "import"}


def record(
    ch: ChangeSet,
    customer: Customer,
    channel: str,
    source: str,
    *,
    campaign_id: int | None = None,
    at: datetime | None = None,
) -> bool:
    """Record that ``customer`` opted out of ``channel``; ``False`` if they already had.
    Runs inside the caller's :func:`crm.audit.change` (one transaction with its audit row)."""
    channel = parse_choice(channel, "channel", CAMPAIGN_CHANNELS)
    source = parse_choice(source, "source", OPT_OUT_SOURCES)
    at = at or utcnow()
    inserted = (
        CampaignOptOut.insert(
            company=customer.company_id,
            customer=customer.id,
            channel=channel,
            source=source,
            campaign=campaign_id,
            occurred_at=at,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_ignore()
        .execute()
    )
    listed = channel in (customer.unsubscribed or [])
    if not listed:
        before = snapshot(customer)
        customer.unsubscribed = [*(customer.unsubscribed or []), channel]
        customer.save()
        ch.updated(customer, before, action="unsubscribe")
    return bool(inserted) or not listed


def source_for(origin: str) -> str:
    """The opt-out source recorded for a change made from ``origin`` (an actor's)."""
    return SOURCE_BY_ORIGIN.get(origin, "api")


def list_optouts(actor: Actor, customer_id: int) -> list[CampaignOptOut]:
    """A customer's opt-outs, oldest first (the customer card shows them)."""
    customer = tenancy.fetch(Customer, actor, customer_id, "customer")
    return list(
        CampaignOptOut.scoped(actor)
        .where(CampaignOptOut.customer == customer.id)
        .order_by(CampaignOptOut.occurred_at, CampaignOptOut.id)
    )
