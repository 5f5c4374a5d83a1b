"""Conversions and ROI (SPEC 6): an order by a recipient inside the attribution window after
the send credits the most recent campaign sent to that customer within *its* window, so
revenue is never counted twice (one :class:`CampaignConversion` per order, unique).

Called by every way an order arrives, inside its transaction: ``customers.add_order`` (Slack,
the JSON API, a won deal's order) and the CSV import (a batch at a time). Figures:
- converted: recipients with at least one credited order (``converted_at`` set once);
- attributed revenue: the sum of credited orders' amounts;
- ROI = (revenue - cost) / cost x 100, cost being the actual cost if set, else the budget
  (:func:`crm.campaigns.service.roi`); goal progress against conversions or revenue.

Window rule, exactly: credited when ``sent_at <= ordered_at <= sent_at + window days`` (an
order at the very end of the window counts; one second later does not). An order placed
before the message went out never counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from peewee import IntegrityError

from crm.db import database
from crm.models import Campaign, CampaignConversion, CampaignRecipient, Order

MAX_WINDOW_DAYS = 365  # the longest attribution window a campaign may have

R = CampaignRecipient


def attribute_orders(orders: Iterable[Order]) -> list[CampaignConversion]:
    """Credit each order to its campaign, if any; returns the conversions made. Orders already
    credited are left as they are (a repeated import changes nothing)."""
    orders = [o for o in orders if o.id is not None]
    if not orders:
        return []
    customers = {o.customer_id for o in orders}
    earliest = min(o.ordered_at for o in orders) - timedelta(days=MAX_WINDOW_DAYS)
    latest = max(o.ordered_at for o in orders)
    sends: dict[int, list[tuple]] = defaultdict(list)
    companies = {o.company_id for o in orders}
    if len(companies) > 1:  # each company's sends are read in its own scope
        return [
            made
            for company_id in sorted(companies)
            for made in attribute_orders([o for o in orders if o.company_id == company_id])
        ]
    rows = (
        R.scoped(orders[0], R.id, R.customer, R.campaign, R.sent_at, Campaign.attribution_days)
        .join(Campaign, on=Campaign.id == R.campaign)
        .where(
            R.customer.in_(list(customers))
            & (R.status == "sent")
            & (R.sent_at >= earliest)
            & (R.sent_at <= latest)
        )
        .order_by(R.sent_at.desc(), R.id.desc())
        .tuples()
    )
    for rid, customer_id, campaign_id, sent_at, days in rows:
        sends[customer_id].append((rid, campaign_id, sent_at, days))
    made = []
    for order in orders:
        for rid, campaign_id, sent_at, days in sends.get(order.customer_id, []):
            if sent_at <= order.ordered_at <= sent_at + timedelta(days=days):
                conversion = _credit(order, rid, campaign_id)
                if conversion is not None:
                    made.append(conversion)
                break
    return made


def _credit(order: Order, recipient_id: int, campaign_id: int) -> CampaignConversion | None:
    if CampaignConversion.scoped(order).where(CampaignConversion.order == order.id).exists():
        return None
    try:
        with database.atomic():  # a savepoint: the unique order decides a concurrent credit
            conversion = CampaignConversion.create(
                company=order.company_id,
                campaign=campaign_id,
                recipient=recipient_id,
                order=order.id,
                amount=order.amount,
                occurred_at=order.ordered_at,
            )
    except IntegrityError:
        return None
    first = (
        R.scoped_update(order, converted_at=order.ordered_at)
        .where((R.id == recipient_id) & R.converted_at.is_null())
        .execute()
    )
    Campaign.scoped_update(
        order,
        converted_count=Campaign.converted_count + (1 if first else 0),
        attributed_revenue=Campaign.attributed_revenue + order.amount,
    ).where(Campaign.id == campaign_id).execute()
    return conversion
