"""``/cms/crm/campaigns``: create, list, read, update, and the sending controls as actions
(``send``, ``pause``, ``resume``, ``cancel``). Every record carries the campaign's figures as
the Slack card shows them (:func:`crm.campaigns.service.figures`), from the same service
layer: the same template checks, audience checks, roles and audit rows (origin ``api``).

A campaign created or updated with a future ``scheduled_at`` is scheduled, without one it
stays a draft; ``send`` starts it now (the workers' next scan dispatches it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from bot.api.common import (
    Id,
    Moment,
    Money,
    NoQuery,
    PageQuery,
    Text200,
    currency,
    iso,
    money,
    page,
)
from bot.api.core import Call, Output, Schema, operation
from crm import collections
from crm.campaigns import service
from crm.campaigns.service import GOAL_TYPES, MAX_CUSTOM
from crm.models import CAMPAIGN_CHANNELS, CAMPAIGN_STATUSES, Campaign

Channel = Literal[CAMPAIGN_CHANNELS]  # type: ignore[valid-type]
Status = Literal[CAMPAIGN_STATUSES]  # type: ignore[valid-type]
Goal = Literal[GOAL_TYPES]  # type: ignore[valid-type]
Subject = Annotated[str, StringConstraints(max_length=255)]
Body = Annotated[str, StringConstraints(max_length=20_000)]
Target = Annotated[
    str,
    StringConstraints(max_length=500),
    Field(description="a Slack channel id (C0123ABCD) or an https webhook URL"),
]
Customers = Annotated[list[Id], Field(max_length=MAX_CUSTOM)]


class CampaignIn(Schema):
    """``segment_id`` or ``customer_ids`` names the audience. ``subject`` and ``body`` are
    templates (``{{ first_name }}``, ``{{ name }}``, ``{{ company }}``, ...); an unknown
    field or a syntax error is refused naming the field."""

    name: Text200
    channel: Channel = "email"
    segment_id: Id | None = None
    customer_ids: Customers | None = None
    subject: Subject | None = None
    body: Body = ""
    scheduled_at: Moment | None = None
    budget: Money | None = None
    cost: Money | None = None
    goal_type: Goal | None = None
    goal_value: Money | None = None
    attribution_days: int = Field(30, ge=1, le=365)
    target: Target | None = None
    event_at: Moment | None = None
    event_location: Annotated[str, StringConstraints(max_length=255)] | None = None


class CampaignPatch(Schema):
    """Only a draft or scheduled campaign changes; only the fields sent change."""

    name: Text200 | None = None
    channel: Channel | None = None
    segment_id: Id | None = None
    customer_ids: Customers | None = None
    subject: Subject | None = None
    body: Body | None = None
    scheduled_at: Moment | None = None
    budget: Money | None = None
    cost: Money | None = None
    goal_type: Goal | None = None
    goal_value: Money | None = None
    attribution_days: int | None = Field(None, ge=1, le=365)
    target: Target | None = None
    event_at: Moment | None = None
    event_location: Annotated[str, StringConstraints(max_length=255)] | None = None


class CampaignQuery(PageQuery):
    status: Status | None = None
    channel: Channel | None = None


class CampaignRecord(Output):
    id: int
    ref: str
    name: str
    channel: str
    status: str
    paused_reason: str | None
    segment_id: int | None
    customer_ids: list[int] | None
    subject: str | None
    body: str
    scheduled_at: str | None
    started_at: str | None
    finished_at: str | None
    currency: str
    budget: str | None
    cost: str | None
    goal_type: str | None
    goal_value: str | None
    goal_progress: str | None
    attribution_days: int
    event_at: str | None
    event_location: str | None
    audience: int
    skipped: int
    pending: int
    sent: int
    failed: int
    resent: int
    opened: int
    clicked: int
    converted: int
    unsubscribed: int
    attributed_revenue: str
    roi: str | None
    created_at: str
    updated_at: str


class CampaignOut(Output):
    data: CampaignRecord


class CampaignList(Output):
    data: list[CampaignRecord]
    next: str | None


def render(c: Campaign, cur: str) -> dict[str, Any]:
    f = service.figures(c)
    return {
        "id": c.id,
        "ref": f"M{c.id}",
        "name": c.name,
        "channel": c.channel,
        "status": f.status,
        "paused_reason": f.paused_reason,
        "segment_id": c.segment_id,
        "customer_ids": c.customer_ids,
        "subject": c.subject,
        "body": c.body,
        "scheduled_at": iso(c.scheduled_at),
        "started_at": iso(c.started_at),
        "finished_at": iso(c.finished_at),
        "currency": cur,
        "budget": money(c.budget),
        "cost": money(c.cost),
        "goal_type": c.goal_type,
        "goal_value": money(c.goal_value),
        "goal_progress": None if f.goal_progress is None else str(f.goal_progress),
        "attribution_days": c.attribution_days,
        "event_at": iso(c.event_at),
        "event_location": c.event_location,
        "audience": f.audience,
        "skipped": f.skipped,
        "pending": f.pending,
        "sent": f.sent,
        "failed": f.failed,
        "resent": f.resent,
        "opened": f.opened,
        "clicked": f.clicked,
        "converted": f.converted,
        "unsubscribed": f.unsubscribed,
        "attributed_revenue": money(f.revenue),
        "roi": None if f.roi is None else str(f.roi),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    """The body's names as the service takes them (``target`` is its ``target_channel``)."""
    if "target" in given:
        given["target_channel"] = given.pop("target")
    return given


@operation(
    "POST",
    "/campaigns",
    body=CampaignIn,
    response=CampaignOut,
    status=201,
    scope="write",
    summary="Create a campaign",
    tag="campaigns",
)
def create(call: Call) -> Any:
    fields = _fields(call.body.model_dump(exclude_none=True))
    campaign = service.create_campaign(call.actor, **fields)
    return {"data": render(campaign, currency(call.actor))}


@operation(
    "GET",
    "/campaigns",
    query=CampaignQuery,
    response=CampaignList,
    scope="read",
    summary="List campaigns",
    tag="campaigns",
)
def list_(call: Call) -> Any:
    q = call.query
    rows = collections.campaigns(
        call.actor, after=q.after, limit=q.limit, status=q.status, channel=q.channel
    )
    cur = currency(call.actor)
    return page(rows, q.limit, lambda c: render(c, cur))


@operation(
    "GET",
    "/campaigns/{id}",
    query=NoQuery,
    response=CampaignOut,
    scope="read",
    summary="Read a campaign with its figures",
    tag="campaigns",
)
def read(call: Call) -> Any:
    return {"data": render(service.get_campaign(call.actor, call.path["id"]), currency(call.actor))}


@operation(
    "PATCH",
    "/campaigns/{id}",
    body=CampaignPatch,
    response=CampaignOut,
    scope="write",
    summary="Update a draft or scheduled campaign",
    tag="campaigns",
)
def update(call: Call) -> Any:
    campaign = service.update_campaign(call.actor, call.path["id"], **_fields(call.given()))
    return {"data": render(campaign, currency(call.actor))}


def _action(name: str, use_case: Any, summary: str) -> None:
    def act(call: Call) -> Any:
        return {"data": render(use_case(call.actor, call.path["id"]), currency(call.actor))}

    act.__name__ = name
    act.__doc__ = summary
    operation(
        "POST",
        f"/campaigns/{{id}}/{name}",
        response=CampaignOut,
        scope="write",
        summary=summary,
        tag="campaigns",
    )(act)


_action("send", service.send_now, "Send a campaign now")
_action("pause", service.pause, "Pause a sending or scheduled campaign")
_action("resume", service.resume, "Resume a paused campaign")
_action("cancel", service.cancel, "Cancel a campaign for good")
