"""``/cms/crm/segments``: create, list, read, update; each carries its live
``customer_count`` (rule 7 keeps it fresh as criteria and customers change)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.api.common import NoQuery, PageQuery, Text200, iso, page
from bot.api.core import Call, Output, Schema, operation
from crm import collections, segments
from crm.models import CustomerSegment


class SegmentIn(Schema):
    """``criteria`` as in SPEC 7: ``{"tier": ["gold", "platinum"], "churn_risk": "high",
    "lifetime_value": {"gte": 20000}, "days_since_last_purchase": {"gte": 90}}``."""

    name: Text200
    description: str | None = Field(None, max_length=2000)
    criteria: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True


class SegmentPatch(Schema):
    name: Text200 | None = None
    description: str | None = Field(None, max_length=2000)
    criteria: dict[str, Any] | None = None
    is_active: bool | None = None


class SegmentQuery(PageQuery):
    is_active: bool | None = None


class SegmentRecord(Output):
    id: int
    ref: str
    name: str
    description: str | None
    criteria: dict[str, Any]
    customer_count: int
    counted_at: str | None
    is_active: bool
    created_at: str
    updated_at: str


class SegmentOut(Output):
    data: SegmentRecord


class SegmentList(Output):
    data: list[SegmentRecord]
    next: str | None


def render(s: CustomerSegment) -> dict[str, Any]:
    return {
        "id": s.id,
        "ref": f"S{s.id}",
        "name": s.name,
        "description": s.description,
        "criteria": s.criteria or {},
        "customer_count": s.customer_count,
        "counted_at": iso(s.counted_at),
        "is_active": s.is_active,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


@operation(
    "POST",
    "/segments",
    body=SegmentIn,
    response=SegmentOut,
    status=201,
    scope="write",
    summary="Create a segment",
    tag="segments",
)
def create(call: Call) -> Any:
    b = call.body
    segment = segments.create_segment(
        call.actor, name=b.name, criteria=b.criteria, description=b.description
    )
    if not b.is_active:
        segment = segments.update_segment(call.actor, segment.id, is_active=False)
    return {"data": render(segment)}


@operation(
    "GET",
    "/segments",
    query=SegmentQuery,
    response=SegmentList,
    scope="read",
    summary="List segments",
    tag="segments",
)
def list_(call: Call) -> Any:
    q = call.query
    rows = collections.segments(call.actor, after=q.after, limit=q.limit, is_active=q.is_active)
    return page(rows, q.limit, render)


@operation(
    "GET",
    "/segments/{id}",
    query=NoQuery,
    response=SegmentOut,
    scope="read",
    summary="Read a segment",
    tag="segments",
)
def read(call: Call) -> Any:
    return {"data": render(segments.get_segment(call.actor, call.path["id"]))}


@operation(
    "PATCH",
    "/segments/{id}",
    body=SegmentPatch,
    response=SegmentOut,
    scope="write",
    summary="Update a segment",
    tag="segments",
)
def update(call: Call) -> Any:
    """A change of criteria (or a re-activation) recounts at once (rule 7)."""
    return {"data": render(segments.update_segment(call.actor, call.path["id"], **call.given()))}
