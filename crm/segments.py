"""Customer segments: the use cases and the cached counts of rule 7.

Membership is always computed live (:func:`segment_customers`) from the criteria (see
:mod:`crm.segment_criteria` for their grammar and meaning); ``customer_count`` is a cache,
refreshed when the criteria change and after metrics are recomputed (:func:`recount_company`:
one SELECT for all the company's segments and one UPDATE). Cache writes are not audited: they
are derived from audited data, and auditing them would make every Undo of a criteria edit
collide with the next recount (so after an Undo the count is fresh again at the next recount).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import IntegrityError

from crm import permissions
from crm.acting import Actor
from crm.audit import after_revert, change, snapshot
from crm.db import database
from crm.errors import Conflict, ValidationError
from crm.models import NO_METRICS_TIER, AuditLog, CustomerMetric, CustomerSegment
from crm.parsing import check_text, parse_int
from crm.segment_counts import recount_all, recount_company, recount_segment
from crm.segment_criteria import (
    CRITERIA_KEYS,
    compile_criteria,
    customer_query,
    parse_criteria_text,
    validate_criteria,
)
from crm.tenancy import fetch

__all__ = [
    "CRITERIA_KEYS",
    "compile_criteria",
    "create_segment",
    "customer_query",
    "get_segment",
    "list_segments",
    "parse_criteria_text",
    "recount_all",
    "recount_company",
    "recount_segment",
    "sample_segment",
    "segment_customers",
    "update_segment",
    "validate_criteria",
]


# --- use cases ------------------------------------------------------------------------------


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise ValidationError(
            "name", "a segment needs a name of 1 to 200 characters", hint='name="Gold at risk"'
        )
    return check_text(name, "name", hint='name="Gold at risk"').strip()


def _description(description: Any) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > 2000:
        raise ValidationError(
            "description",
            "expected text of up to 2000 characters",
            hint='description="Gold customers who stopped buying"',
        )
    return check_text(description, "description").strip() or None


def _save(segment: CustomerSegment) -> None:
    """Save, turning the unique (company, name) into a clear refusal."""
    try:
        with database.atomic():
            segment.save()
    except IntegrityError:
        raise Conflict(f"A segment named {segment.name!r} already exists") from None


def create_segment(
    actor: Actor, *, name: str, criteria: dict[str, Any], description: str | None = None
) -> CustomerSegment:
    """Admins (and tokens) only; the count is computed at once (rule 7)."""
    permissions.require(actor, "manage_segments")
    segment = CustomerSegment(
        company=actor.company_id,
        name=_name(name),
        description=_description(description),
        criteria=validate_criteria(criteria),
    )
    with change(actor) as ch:
        _save(segment)
        ch.created(segment)
        recount_segment(segment)
    segment.change_id = ch.change_id
    return segment


_UPDATABLE = ("name", "description", "criteria", "is_active")


def update_segment(actor: Actor, sid: int, **fields: Any) -> CustomerSegment:
    """Change name, description, criteria or the active flag; a criteria change (or a
    re-activation) recounts at once (rule 7)."""
    permissions.require(actor, "manage_segments")
    unknown = [k for k in fields if k not in _UPDATABLE]
    if unknown:
        raise ValidationError(
            unknown[0], "cannot be changed here", hint=f"one of {', '.join(_UPDATABLE)}"
        )
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = _name(fields["name"])
    if "description" in fields:
        values["description"] = _description(fields["description"])
    if "criteria" in fields:
        values["criteria"] = validate_criteria(fields["criteria"])
    if "is_active" in fields:
        if not isinstance(fields["is_active"], bool):
            raise ValidationError("is_active", "expected true or false", hint="active=true")
        values["is_active"] = fields["is_active"]
    with change(actor) as ch:
        segment = fetch(CustomerSegment, actor, sid, "segment")
        before = snapshot(segment)
        for key, value in values.items():
            setattr(segment, key, value)
        _save(segment)
        ch.updated(segment, before)
        moved = before["criteria"] != snapshot(segment)["criteria"]
        if segment.is_active and (moved or not before["is_active"]):
            recount_segment(segment)
    segment.change_id = ch.change_id
    return segment


@after_revert("segment")
def _recount_reverted(actor: Actor, rows: list[AuditLog]) -> None:
    """An undone criteria change (or re-activation) recounts at once, as the change did."""
    for sid in sorted({row.entity_id for row in rows}):
        segment = CustomerSegment.scoped(actor).where(CustomerSegment.id == sid).first()
        if segment is not None and segment.is_active:
            recount_segment(segment)


def get_segment(actor: Actor, sid: int) -> CustomerSegment:
    return fetch(CustomerSegment, actor, sid, "segment")


def list_segments(
    actor: Actor, *, active_only: bool = True, limit: int = 50, offset: int = 0
) -> list[CustomerSegment]:
    query = CustomerSegment.scoped(actor)
    if active_only:
        query = query.where(CustomerSegment.is_active)
    limit = parse_int(limit, "limit", 1, 500)
    offset = parse_int(offset, "offset", 0)
    return list(query.order_by(CustomerSegment.name).limit(limit).offset(offset))


def segment_customers(actor: Actor, sid: int, now: datetime | None = None) -> Any:
    """The segment's customers right now, as a query the caller can page or count."""
    segment = get_segment(actor, sid)
    return customer_query(actor.company_id, segment.criteria, now)


@dataclass(frozen=True)
class SampleCustomer:
    """A customer as a segment's sample shows it; without metrics: bronze, nothing spent."""

    id: int
    name: str
    tier: str
    lifetime_value: Decimal


@dataclass(frozen=True)
class SegmentSample:
    segment: CustomerSegment
    count: int
    customers: list[SampleCustomer]


def sample_segment(
    actor: Actor, sid: int, size: int = 10, now: datetime | None = None
) -> SegmentSample:
    """The segment, how many customers it holds now and the first ``size`` of them with
    their tier and lifetime value (two queries besides the count, whatever ``size``)."""
    segment = get_segment(actor, sid)
    query = customer_query(actor.company_id, segment.criteria, now)
    count = query.order_by().count()
    customers = list(query.limit(parse_int(size, "size", 1, 100)))
    metrics = (
        {
            m.customer_id: m
            for m in CustomerMetric.scoped(actor).where(
                CustomerMetric.customer.in_([c.id for c in customers])
            )
        }
        if customers
        else {}
    )
    sample = [
        SampleCustomer(
            c.id,
            c.name,
            metrics[c.id].tier if c.id in metrics else NO_METRICS_TIER,
            metrics[c.id].lifetime_value if c.id in metrics else Decimal(0),
        )
        for c in customers
    ]
    return SegmentSample(segment, count, sample)
