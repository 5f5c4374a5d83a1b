"""A campaign's audience: counted for the preview, materialised into recipient rows once.

Materialising is one set-based ``INSERT INTO cms_campaign_recipients ... SELECT`` from the
segment's criteria (or the custom list), with no Python loop over customers: the database
decides each row's status (``skipped`` for customers who opted out of the channel or have no
address for it, with the reason in ``error``, else ``pending``) and draws each row's random
token itself (:mod:`crm.campaigns.tokens`). The unique (campaign, customer) pair plus
``ON CONFLICT DO NOTHING`` makes a repeated start add nothing, so a segment's members are
counted exactly once, when sending starts (SPEC 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import OP, SQL, Case, Expression, Value, fn

from crm.clock import utcnow
from crm.db import is_postgres
from crm.models import Campaign, CampaignRecipient, Customer
from crm.segment_criteria import compile_criteria, joined

__all__ = ["Audience", "count", "joined", "materialise", "stored"]

# channel -> the customer column that holds its address (social posts to a channel instead)
ADDRESS = {"email": Customer.email, "event": Customer.email, "sms": Customer.phone}
MISSING = {"email": "no email address", "event": "no email address", "sms": "no phone number"}
UNSUBSCRIBED = "unsubscribed from {channel}"


@dataclass(frozen=True)
class Audience:
    total: int  # customers targeted
    skipped: int  # of which opted out or without an address

    @property
    def reachable(self) -> int:
        return self.total - self.skipped


def _opted_out(channel: str) -> Expression:
    """The customer's ``unsubscribed`` JSON list holds the channel (channels have no LIKE
    wildcards; the value bypasses the JSON field's converter)."""
    return Expression(Customer.unsubscribed, OP.ILIKE, Value(f'%"{channel}"%', converter=False))


def _no_address(channel: str) -> Expression:
    column = ADDRESS[channel]
    return column.is_null() | (fn.TRIM(column) == "")


def _where(campaign: Campaign, now: datetime) -> Expression:
    if campaign.segment_id is not None:
        from crm.models import CustomerSegment

        segment = (
            CustomerSegment.scoped(campaign).where(CustomerSegment.id == campaign.segment_id).get()
        )
        return compile_criteria(campaign.company_id, segment.criteria, now)
    ids = [int(i) for i in (campaign.customer_ids or [])]
    return (Customer.company == campaign.company_id) & Customer.id.in_(ids or [0])


def _skip_reason(channel: str) -> Case:
    return Case(
        None,
        [
            (_opted_out(channel), UNSUBSCRIBED.format(channel=channel)),
            (_no_address(channel), MISSING[channel]),
        ],
        None,
    )


def _random_token() -> Any:
    """128 random bits as 32 hex digits, drawn by the database (PostgreSQL's
    ``gen_random_uuid`` and SQLite's ``randomblob`` both use a cryptographic source)."""
    if is_postgres():
        return SQL("replace(gen_random_uuid()::text, '-', '')")
    return SQL("lower(hex(randomblob(16)))")


def count(campaign: Campaign, now: datetime | None = None) -> Audience:
    """The audience as it would be materialised now (the preview's figures)."""
    if campaign.channel not in ADDRESS:
        return Audience(0, 0)
    now = now or utcnow()
    skipped = fn.SUM(
        Case(
            None,
            [(_opted_out(campaign.channel), 1)],
            Case(None, [(_no_address(campaign.channel), 1)], 0),
        )
    )
    row = (
        joined(Customer.scoped(campaign, fn.COUNT(Customer.id), skipped))
        .where(_where(campaign, now))
        .tuples()
        .first()
    )
    total, skip = row if row else (0, 0)
    return Audience(int(total or 0), int(skip or 0))


def materialise(campaign: Campaign, now: datetime | None = None) -> Audience:
    """Insert the recipient rows (one statement) and return the audience as stored."""
    now = now or utcnow()
    if campaign.channel in ADDRESS:
        reason = _skip_reason(campaign.channel)
        status = Case(None, [(reason.is_null(), "pending")], "skipped")
        query = joined(
            Customer.scoped(
                campaign,
                Value(campaign.company_id),
                Value(campaign.id),
                Customer.id,
                status,
                reason,
                _random_token(),
                Value(0),
                Value(False),
                Value(now),
                Value(now),
            )
        ).where(_where(campaign, now))
        fields = [
            CampaignRecipient.company,
            CampaignRecipient.campaign,
            CampaignRecipient.customer,
            CampaignRecipient.status,
            CampaignRecipient.error,
            CampaignRecipient.token,
            CampaignRecipient.attempts,
            CampaignRecipient.resent,
            CampaignRecipient.created_at,
            CampaignRecipient.updated_at,
        ]
        CampaignRecipient.insert_from(query, fields).on_conflict_ignore().execute()
    return stored(campaign)


def stored(campaign: Campaign) -> Audience:
    row = (
        CampaignRecipient.scoped(
            campaign,
            fn.COUNT(CampaignRecipient.id),
            fn.SUM(Case(None, [(CampaignRecipient.status == "skipped", 1)], 0)),
        )
        .where(CampaignRecipient.campaign == campaign.id)
        .tuples()
        .first()
    )
    total, skipped = row if row else (0, 0)
    return Audience(int(total or 0), int(skipped or 0))
