"""``/cms/crm/follow-ups``: create (the original system's body), list, update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bot.api.common import Id, MemberRef, Moment, PageQuery, iso, member_id, moment, page
from bot.api.core import Call, Output, Schema, operation
from bot.api.subjects import SubjectType, subject_type
from crm import collections, followups
from crm.followups import effective_status
from crm.models import FOLLOW_UP_STATUSES, PRIORITIES, FollowUp

Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
Status = Literal[FOLLOW_UP_STATUSES]  # type: ignore[valid-type]


class FollowUpIn(Schema):
    """The original system's body; ``due_date`` without an offset is company time (a date
    alone is 09:00 that day)."""

    followable_type: SubjectType
    followable_id: Id
    title: str = Field(max_length=255)
    due_date: Moment
    priority: Priority = "medium"
    notes: str | None = Field(None, max_length=5000)
    assigned_to: MemberRef | None = None


class FollowUpPatch(Schema):
    """Only the fields sent change. ``status: completed`` (with ``completion_notes``) or
    ``cancelled`` closes it; a new ``due_date`` makes it pending or overdue again."""

    title: str | None = Field(None, max_length=255)
    due_date: Moment | None = None
    priority: Priority | None = None
    notes: str | None = Field(None, max_length=5000)
    assigned_to: MemberRef | None = None
    status: Literal["completed", "cancelled"] | None = None
    completion_notes: str | None = Field(None, max_length=5000)


class FollowUpQuery(PageQuery):
    status: Status | None = None
    assigned_to: MemberRef | None = None
    followable_type: SubjectType | None = None
    followable_id: Id | None = None


class FollowUpRecord(Output):
    id: int
    followable_type: str
    followable_id: int
    title: str
    notes: str | None
    due_date: str
    priority: str
    status: str
    assigned_to: int | None
    completed_at: str | None
    completion_notes: str | None
    created_at: str
    updated_at: str


class FollowUpOut(Output):
    data: FollowUpRecord


class FollowUpList(Output):
    data: list[FollowUpRecord]
    next: str | None


def render(fu: FollowUp) -> dict[str, Any]:
    return {
        "id": fu.id,
        "followable_type": fu.followable_type,
        "followable_id": fu.followable_id,
        "title": fu.title,
        "notes": fu.notes,
        "due_date": iso(fu.due_at),
        "priority": fu.priority,
        "status": effective_status(fu),
        "assigned_to": fu.assigned_to_id,
        "completed_at": iso(fu.completed_at),
        "completion_notes": fu.completion_notes,
        "created_at": iso(fu.created_at),
        "updated_at": iso(fu.updated_at),
    }


@operation(
    "POST",
    "/follow-ups",
    body=FollowUpIn,
    response=FollowUpOut,
    status=201,
    scope="write",
    summary="Create a follow-up",
    tag="follow-ups",
)
def create(call: Call) -> Any:
    """Unassigned unless ``assigned_to`` names a member (a token is nobody's own)."""
    b = call.body
    fu = followups.create_follow_up(
        call.actor,
        subject_type=subject_type(b.followable_type, "followable_type"),
        subject_id=b.followable_id,
        title=b.title,
        due_at=moment(call.actor, b.due_date, "due_date"),
        notes=b.notes,
        priority=b.priority,
        assigned_to_id=member_id(call.actor, b.assigned_to),
    )
    return {"data": render(fu)}


@operation(
    "GET",
    "/follow-ups",
    query=FollowUpQuery,
    response=FollowUpList,
    scope="read",
    summary="List follow-ups",
    tag="follow-ups",
)
def list_(call: Call) -> Any:
    """``status=overdue`` includes pending ones already past due (rule 5)."""
    q = call.query
    kind = None if q.followable_type is None else subject_type(q.followable_type, "followable_type")
    rows = collections.follow_ups(
        call.actor,
        after=q.after,
        limit=q.limit,
        status=q.status,
        assigned_to_id=member_id(call.actor, q.assigned_to),
        subject_type=kind,
        subject_id=q.followable_id,
    )
    return page(rows, q.limit, render)


@operation(
    "PATCH",
    "/follow-ups/{id}",
    body=FollowUpPatch,
    response=FollowUpOut,
    scope="write",
    summary="Update, complete or cancel a follow-up",
    tag="follow-ups",
)
def update(call: Call) -> Any:
    fields = call.given()
    fid = call.path["id"]
    status = fields.pop("status", None)
    notes = fields.pop("completion_notes", None)
    if notes is not None and status != "completed":
        from crm.errors import ValidationError

        raise ValidationError("completion_notes", "only sent with status completed")
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "due_date":
            changes["due_at"] = moment(call.actor, value, "due_date")
        elif name == "assigned_to":
            changes["assigned_to_id"] = member_id(call.actor, value)
        else:
            changes[name] = value
    fu = followups.get_follow_up(call.actor, fid)
    if changes:
        fu = followups.update_follow_up(call.actor, fid, **changes)
    if status == "completed":
        fu = followups.complete_follow_up(call.actor, fid, notes)
    elif status == "cancelled":
        fu = followups.cancel_follow_up(call.actor, fid)
    return {"data": render(fu)}
