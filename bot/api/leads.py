"""``/cms/crm/leads``: create (the original system's body), list, read, update, convert."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bot.api.common import (
    CreateQuery,
    MemberRef,
    Money,
    NoQuery,
    PageQuery,
    Tags,
    Text200,
    currency,
    iso,
    member_id,
    money,
    page,
)
from bot.api.core import Call, Output, Schema, operation
from crm import collections, leads
from crm.models import LEAD_SOURCES, LEAD_STATUSES, PRIORITIES, Lead

Source = Literal[LEAD_SOURCES]  # type: ignore[valid-type]
Status = Literal[LEAD_STATUSES]  # type: ignore[valid-type]
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]


class LeadIn(Schema):
    """The original system's lead body."""

    name: Text200
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    company_name: Text200 | None = None
    source: Source = "other"
    estimated_value: Money | None = None
    probability: int | None = Field(None, ge=0, le=100)
    priority: Priority = "medium"
    tags: Tags | None = None
    assigned_to: MemberRef | None = None


class LeadPatch(Schema):
    """Any of these; only the fields sent change. ``status`` follows the workflow (new ->
    contacted -> qualified -> won/lost; lost needs ``lost_reason``)."""

    name: Text200 | None = None
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    company_name: Text200 | None = None
    source: Source | None = None
    estimated_value: Money | None = None
    probability: int | None = Field(None, ge=0, le=100)
    priority: Priority | None = None
    tags: Tags | None = None
    assigned_to: MemberRef | None = None
    status: Status | None = None
    lost_reason: str | None = Field(None, max_length=1000)


class LeadQuery(PageQuery):
    status: Status | None = None
    source: Source | None = None
    assigned_to: MemberRef | None = None
    updated_since: str | None = Field(
        None, max_length=40, description="ISO date or time: leads changed since then"
    )
    q: str | None = Field(None, max_length=200, description="part of name, email or company")


class LeadRecord(Output):
    id: int
    ref: str
    name: str
    email: str | None
    phone: str | None
    company_name: str | None
    source: str
    status: str
    priority: str
    estimated_value: str | None
    currency: str
    probability: int | None
    assigned_to: int | None
    tags: list[str]
    last_contacted_at: str | None
    converted_at: str | None
    customer_id: int | None
    lost_reason: str | None
    created_at: str
    updated_at: str


class LeadOut(Output):
    data: LeadRecord


class LeadList(Output):
    data: list[LeadRecord]
    next: str | None


def render(lead: Lead, cur: str, customer_id: int | None = None) -> dict[str, Any]:
    return {
        "id": lead.id,
        "ref": f"L{lead.id}",
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company_name": lead.company_name,
        "source": lead.source,
        "status": lead.status,
        "priority": lead.priority,
        "estimated_value": money(lead.estimated_value),
        "currency": cur,
        "probability": lead.probability,
        "assigned_to": lead.assigned_to_id,
        "tags": list(lead.tags or []),
        "last_contacted_at": iso(lead.last_contacted_at),
        "converted_at": iso(lead.converted_at),
        "customer_id": customer_id,
        "lost_reason": lead.lost_reason,
        "created_at": iso(lead.created_at),
        "updated_at": iso(lead.updated_at),
    }


def _one(call: Call, lead: Lead) -> dict[str, Any]:
    converted = collections.converted_customers(call.actor, [lead])
    return {"data": render(lead, currency(call.actor), converted.get(lead.id))}


@operation(
    "POST",
    "/leads",
    body=LeadIn,
    query=CreateQuery,
    response=LeadOut,
    status=201,
    scope="write",
    summary="Create a lead",
    tag="leads",
)
def create(call: Call) -> Any:
    """A likely duplicate (same email or phone, or a close name at the same company) is
    refused with 409 and the existing lead's ``ref`` unless ``?allow_duplicate=true``."""
    body = call.body
    lead = leads.create_lead(
        call.actor,
        name=body.name,
        email=body.email,
        phone=body.phone,
        company_name=body.company_name,
        source=body.source,
        estimated_value=body.estimated_value,
        probability=body.probability,
        priority=body.priority,
        tags=body.tags,
        assigned_to_id=member_id(call.actor, body.assigned_to),
        allow_duplicate=call.query.allow_duplicate,
    )
    return {"data": render(lead, currency(call.actor))}


@operation(
    "GET",
    "/leads",
    query=LeadQuery,
    response=LeadList,
    scope="read",
    summary="List leads",
    tag="leads",
)
def list_(call: Call) -> Any:
    """Oldest first by ``id``; follow ``next`` for the following page."""
    q = call.query
    rows = collections.leads(
        call.actor,
        after=q.after,
        limit=q.limit,
        status=q.status,
        source=q.source,
        assigned_to_id=member_id(call.actor, q.assigned_to),
        updated_since=q.updated_since,
        q=q.q,
    )
    cur = currency(call.actor)
    converted = collections.converted_customers(call.actor, rows[: q.limit])
    return page(rows, q.limit, lambda lead: render(lead, cur, converted.get(lead.id)))


@operation(
    "GET",
    "/leads/{id}",
    query=NoQuery,
    response=LeadOut,
    scope="read",
    summary="Read a lead",
    tag="leads",
)
def read(call: Call) -> Any:
    return _one(call, leads.get_lead(call.actor, call.path["id"]))


@operation(
    "PATCH",
    "/leads/{id}",
    body=LeadPatch,
    response=LeadOut,
    scope="write",
    summary="Update a lead",
    tag="leads",
)
def update(call: Call) -> Any:
    fields = call.given()
    if "assigned_to" in fields:
        fields["assigned_to_id"] = member_id(call.actor, fields.pop("assigned_to"))
    lead = leads.update_lead(call.actor, call.path["id"], **fields)
    return _one(call, lead)


@operation(
    "POST",
    "/leads/{id}/convert",
    response=LeadOut,
    scope="write",
    summary="Convert a lead to a customer (once)",
    tag="leads",
)
def convert(call: Call) -> Any:
    """Rule 1: answers the converted lead with ``customer_id`` of the new customer; the second
    conversion is 409."""
    customer = leads.convert_lead(call.actor, call.path["id"])
    lead = leads.get_lead(call.actor, call.path["id"])
    return {"data": render(lead, currency(call.actor), customer.id)}
