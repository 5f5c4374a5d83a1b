"""``/cms/crm/communications``: log one (rule 6 updates "last contacted") and list them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bot.api.common import Id, Moment, PageQuery, iso, moment, page
from bot.api.core import Call, Output, Schema, operation
from bot.api.subjects import SubjectType, subject_type
from crm import collections, communications
from crm.models import COMMUNICATION_TYPES, DIRECTIONS, Communication

Kind = Literal[COMMUNICATION_TYPES]  # type: ignore[valid-type]
Direction = Literal[DIRECTIONS]  # type: ignore[valid-type]


class CommunicationIn(Schema):
    """The original system's body; ``communicated_at`` without an offset is company time."""

    communicable_type: SubjectType
    communicable_id: Id
    type: Kind
    direction: Direction = "outbound"
    subject: str | None = Field(None, max_length=255)
    content: str = Field("", max_length=20000)
    communicated_at: Moment | None = None
    duration_minutes: int | None = Field(None, ge=1, le=24 * 60)


class CommunicationQuery(PageQuery):
    communicable_type: SubjectType | None = None
    communicable_id: Id | None = None
    type: Kind | None = None


class CommunicationRecord(Output):
    id: int
    communicable_type: str
    communicable_id: int
    type: str
    direction: str
    subject: str | None
    content: str
    communicated_at: str
    duration_minutes: int | None
    author: int | None
    created_at: str


class CommunicationOut(Output):
    data: CommunicationRecord


class CommunicationList(Output):
    data: list[CommunicationRecord]
    next: str | None


def render(c: Communication) -> dict[str, Any]:
    return {
        "id": c.id,
        "communicable_type": c.communicable_type,
        "communicable_id": c.communicable_id,
        "type": c.type,
        "direction": c.direction,
        "subject": c.subject,
        "content": c.content,
        "communicated_at": iso(c.communicated_at),
        "duration_minutes": c.duration_minutes,
        "author": c.author_id,
        "created_at": iso(c.created_at),
    }


@operation(
    "POST",
    "/communications",
    body=CommunicationIn,
    response=CommunicationOut,
    status=201,
    scope="write",
    summary="Log a communication",
    tag="communications",
)
def create(call: Call) -> Any:
    """Updates ``last_contacted_at`` of its subject, and of the lead or customer behind an
    opportunity (rule 6)."""
    b = call.body
    comm = communications.log_communication(
        call.actor,
        subject_type=subject_type(b.communicable_type, "communicable_type"),
        subject_id=b.communicable_id,
        type=b.type,
        direction=b.direction,
        subject=b.subject,
        content=b.content,
        communicated_at=moment(call.actor, b.communicated_at, "communicated_at"),
        duration_minutes=b.duration_minutes,
    )
    return {"data": render(comm)}


@operation(
    "GET",
    "/communications",
    query=CommunicationQuery,
    response=CommunicationList,
    scope="read",
    summary="List communications",
    tag="communications",
)
def list_(call: Call) -> Any:
    q = call.query
    kind = (
        None
        if q.communicable_type is None
        else subject_type(q.communicable_type, "communicable_type")
    )
    rows = collections.communications(
        call.actor,
        after=q.after,
        limit=q.limit,
        subject_type=kind,
        subject_id=q.communicable_id,
        type=q.type,
    )
    return page(rows, q.limit, render)
