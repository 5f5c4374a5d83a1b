"""Customers and their orders (purchases), which feed lifetime value, tiers and churn risk.

Decisions where the spec is silent:
- creating a customer runs the same duplicate check and idempotency as creating a lead;
- adding an order is an edit of the customer (reps: own and unassigned customers), or of the
  deal when it comes from a won opportunity; recording an opt-out (:func:`unsubscribe`) is not
  an edit: anyone in the company may honour one;
- an order's ``external_ref`` is unique per company: repeating it returns the existing order
  and changes nothing (``order.created`` is ``False``, ``change_id`` ``None``), unless it
  belongs to another customer, which is refused as a conflicting import;
- ``ordered_at`` may not lie in the future (a few minutes of clock skew aside): it would give
  negative "days since last purchase";
- customer changes refresh the company's segment counts in the same transaction (rule 7), and
  a new order refreshes the customer's metrics through :mod:`crm.customer_value`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from peewee import IntegrityError, fn

from crm import idempotency, permissions, tenancy
from crm.acting import Actor
from crm.audit import change, snapshot
from crm.campaigns import conversions
from crm.clock import to_utc, utcnow
from crm.db import database
from crm.duplicates import phone_region, refuse_duplicates
from crm.errors import Conflict, ValidationError, cleaned, cleaned_fields
from crm.leads import (
    ASSIGN_TO_ACTOR,
    Assignee,
    check_fields,
    clean_email,
    clean_name,
    clean_page,
    clean_phone,
    clean_tags,
    clean_text,
    resolve_assignee,
)
from crm.models import CAMPAIGN_CHANNELS, Customer, Opportunity, Order
from crm.parsing import parse_choice, parse_money
from crm.segment_counts import recount_company
from crm.tenancy import ref_label

CLOCK_SKEW = timedelta(minutes=5)
CUSTOMER_FIELDS: Final = (
    "name",
    "email",
    "phone",
    "company_name",
    "industry",
    "tags",
    "assigned_to_id",
    "unsubscribed",
)


def _label(customer_id: Any) -> str:
    return ref_label("customer", customer_id)


def _recount_segments(actor: Actor) -> None:
    recount_company(actor.company_id)


def _clean_channels(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValidationError("unsubscribed", "must be a list of channels", hint="email,sms")
    channels: list[str] = []
    for item in value:
        channel = parse_choice(item, "unsubscribed", CAMPAIGN_CHANNELS)
        if channel not in channels:
            channels.append(channel)
    return channels


def create_customer(
    actor: Actor,
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    company_name: str | None = None,
    industry: str | None = None,
    tags: list[str] | None = None,
    assigned_to_id: Assignee = ASSIGN_TO_ACTOR,
    idempotency_key: str | None = None,
    allow_duplicate: bool = False,
) -> Customer:
    """Create a customer; :class:`DuplicateFound` on likely twins unless ``allow_duplicate``;
    a repeated ``idempotency_key`` returns the first customer."""
    values = cleaned(
        name=lambda: clean_name(name),
        email=lambda: clean_email(email),
        phone=lambda: clean_phone(phone, phone_region(actor)) if phone else None,
        company_name=lambda: clean_text(company_name, "company", 200),
        industry=lambda: clean_text(industry, "industry", 100),
        tags=lambda: clean_tags(tags),
        assigned_to=lambda: resolve_assignee(actor, assigned_to_id),
    )

    def create() -> Customer:
        with change(actor) as ch:
            if not allow_duplicate:
                refuse_duplicates(actor, Customer, values)
            customer = Customer.create(company=actor.company_id, **values)
            ch.created(customer)
            _recount_segments(actor)
        customer.change_id = ch.change_id  # type: ignore[attr-defined]
        return customer

    return idempotency.once(actor, idempotency_key, Customer, create)[0]


def get_customer(actor: Actor, customer_id: int) -> Customer:
    return tenancy.fetch(Customer, actor, customer_id, "customer")


def list_customers(
    actor: Actor, *, limit: int = 50, offset: int = 0, search: str | None = None
) -> list[Customer]:
    """Customers by name; ``search`` matches part of the name, company name, email or phone
    (case-insensitive)."""
    limit, offset = clean_page(limit, offset)
    query = Customer.scoped(actor)
    text = clean_text(search, "search", 200)
    if text:
        query = query.where(
            Customer.name.contains(text)
            | Customer.company_name.contains(text)
            | Customer.email.contains(text)
            | Customer.phone.contains(text)
        )
    return list(query.order_by(fn.LOWER(Customer.name), Customer.id).limit(limit).offset(offset))


def update_customer(actor: Actor, customer_id: int, **fields: Any) -> Customer:
    """Change any of :data:`CUSTOMER_FIELDS` (the API's PATCH), validated like creation; a
    PATCH that changes nothing returns the customer with ``change_id`` ``None``."""
    check_fields(fields, CUSTOMER_FIELDS, "customer")
    region = phone_region(actor) if fields.get("phone") else None
    cleaners: dict[str, Callable[[Any], Any]] = {
        "name": clean_name,
        "email": clean_email,
        "phone": lambda v: clean_phone(v, region) if v else None,  # type: ignore[arg-type]
        "company_name": lambda v: clean_text(v, "company", 200),
        "industry": lambda v: clean_text(v, "industry", 100),
        "tags": clean_tags,
        "unsubscribed": _clean_channels,
        "assigned_to_id": lambda v: resolve_assignee(actor, v),
    }
    values = cleaned_fields(cleaners, fields)
    if "assigned_to_id" in values:
        values["assigned_to"] = values.pop("assigned_to_id")
    with change(actor) as ch:
        customer = tenancy.fetch_for_update(Customer, actor, customer_id, "customer")
        permissions.require_edit(actor, customer, _label(customer.id))
        before = snapshot(customer)
        for name, value in values.items():
            setattr(customer, name, value)
        if snapshot(customer) == before:
            customer.change_id = None  # type: ignore[attr-defined]
            return customer
        customer.save()
        ch.updated(customer, before)
        _recount_segments(actor)
    customer.change_id = ch.change_id  # type: ignore[attr-defined]
    return customer


def unsubscribe(actor: Actor, customer_id: int, channel: str) -> Customer:
    """Record an opt-out from one campaign channel, with its time and source
    (:mod:`crm.campaigns.optouts`); repeating it changes nothing."""
    from crm.campaigns import optouts

    channel = parse_choice(channel, "channel", CAMPAIGN_CHANNELS)
    with change(actor) as ch:
        customer = tenancy.fetch_for_update(Customer, actor, customer_id, "customer")
        if channel in (customer.unsubscribed or []):
            customer.change_id = None  # type: ignore[attr-defined]
            return customer
        optouts.record(ch, customer, channel, optouts.source_for(actor.origin))
    customer.change_id = ch.change_id  # type: ignore[attr-defined]
    return customer


# --- orders ---------------------------------------------------------------------------------


def _ordered_at(value: Any) -> datetime:
    if value is None:
        return utcnow()
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise ValidationError("ordered_at", "must be a date and time", hint="date=2026-03-15")
    moment = to_utc(value).replace(microsecond=0)
    if moment > utcnow() + CLOCK_SKEW:
        raise ValidationError(
            "ordered_at", "an order cannot be in the future", hint="date=today or a past date"
        )
    return moment


def _existing_order(actor: Actor, customer_id: int, ref: str) -> Order | None:
    order = Order.scoped(actor).where(Order.external_ref == ref).first()
    if order is None:
        return None
    if order.customer_id != customer_id:
        raise Conflict(
            f"ref {ref} is already an order of {_label(order.customer_id)}, "
            f"not of {_label(customer_id)}"
        )
    order.created = False  # type: ignore[attr-defined]
    order.change_id = None  # type: ignore[attr-defined]
    return order


def add_order(
    actor: Actor,
    customer_id: int,
    *,
    amount: Decimal,
    cost: Decimal | None = None,
    ordered_at: datetime | None = None,
    external_ref: str | None = None,
    opportunity_id: int | None = None,
) -> Order:
    """Record a purchase (amount > 0, cost >= 0) and refresh the customer's metrics.

    ``order.created`` tells a new order from a repeated ``external_ref``.
    """
    amount = parse_money(amount, "amount")
    if amount <= 0:
        raise ValidationError("amount", "must be more than 0", hint="amount=12000")
    cost = None if cost is None else parse_money(cost, "cost")
    moment = _ordered_at(ordered_at)
    ref = clean_text(external_ref, "ref", 100)
    with change(actor) as ch:
        customer = tenancy.fetch(Customer, actor, customer_id, "customer")
        if ref is not None and (existing := _existing_order(actor, customer.id, ref)):
            return existing
        opportunity = None
        if opportunity_id is not None:
            opportunity = tenancy.fetch(Opportunity, actor, opportunity_id, "opportunity")
            if opportunity.customer_id not in (None, customer.id):
                raise ValidationError(
                    "opportunity",
                    f"{ref_label('opportunity', opportunity.id)} belongs to "
                    f"{_label(opportunity.customer_id)}, not {_label(customer.id)}",
                )
            # the order of a won deal is the deal owner's to record, whoever owns the customer
            permissions.require_edit(actor, opportunity, ref_label("opportunity", opportunity.id))
        else:
            permissions.require_edit(actor, customer, _label(customer.id))
        try:
            with database.atomic():  # a savepoint: the unique ref decides a concurrent import
                order = Order.create(
                    company=actor.company_id,
                    customer=customer.id,
                    amount=amount,
                    cost=cost,
                    ordered_at=moment,
                    external_ref=ref,
                    opportunity=opportunity.id if opportunity else None,
                )
        except IntegrityError:
            existing = _existing_order(actor, customer.id, ref) if ref else None
            if existing is None:
                raise
            return existing
        ch.created(order)
        conversions.attribute_orders([order])  # a campaign it answers is credited (SPEC 6)
        from crm import customer_value

        customer_value.recompute_customer(actor.company_id, customer.id)
    order.created = True  # type: ignore[attr-defined]
    order.change_id = ch.change_id  # type: ignore[attr-defined]
    return order


def list_orders(actor: Actor, customer_id: int) -> list[Order]:
    """The customer's orders, newest first."""
    customer = tenancy.fetch(Customer, actor, customer_id, "customer")
    return list(
        Order.scoped(actor)
        .where(Order.customer == customer.id)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
    )
