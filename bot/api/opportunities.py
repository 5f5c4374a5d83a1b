"""``/cms/crm/opportunities``: create (the original system's body), list, read, update."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bot.api.common import (
    Day,
    Id,
    MemberRef,
    Money,
    NoQuery,
    PageQuery,
    Text200,
    currency,
    day,
    iso,
    member_id,
    money,
    page,
)
from bot.api.core import Call, Output, Schema, operation
from crm import collections, opportunities
from crm.models import OPEN_STAGES, OPPORTUNITY_STAGES, Opportunity

Stage = Literal[OPPORTUNITY_STAGES]  # type: ignore[valid-type]
OpenStage = Literal[OPEN_STAGES]  # type: ignore[valid-type]


class OpportunityIn(Schema):
    """The original system's body; ``lead_id`` instead of ``customer_id`` for a deal with a
    lead. ``probability`` left out follows the stage (10/25/50/75)."""

    name: Text200
    customer_id: Id | None = None
    lead_id: Id | None = None
    amount: Money
    probability: int | None = Field(None, ge=0, le=100)
    stage: OpenStage = "prospecting"
    expected_close_date: Day | None = None
    assigned_to: MemberRef | None = None


class OpportunityPatch(Schema):
    """Only the fields sent change; ``probability: null`` returns to the stage default.
    Closing a deal (won with its order, lost with a reason) is done from Slack."""

    name: Text200 | None = None
    customer_id: Id | None = None
    lead_id: Id | None = None
    amount: Money | None = None
    probability: int | None = Field(None, ge=0, le=100)
    stage: Stage | None = None
    expected_close_date: Day | None = None
    assigned_to: MemberRef | None = None
    loss_reason: str | None = Field(None, max_length=1000)


class OpportunityQuery(PageQuery):
    stage: Stage | None = None
    assigned_to: MemberRef | None = None
    customer_id: Id | None = None
    close_before: Day | None = None
    close_after: Day | None = None


class OpportunityRecord(Output):
    id: int
    ref: str
    name: str
    customer_id: int | None
    lead_id: int | None
    amount: str
    currency: str
    probability: int
    weighted_amount: str
    stage: str
    expected_close_date: str | None
    actual_close_date: str | None
    assigned_to: int | None
    loss_reason: str | None
    last_contacted_at: str | None
    created_at: str
    updated_at: str


class OpportunityOut(Output):
    data: OpportunityRecord


class OpportunityList(Output):
    data: list[OpportunityRecord]
    next: str | None


def render(opp: Opportunity, cur: str) -> dict[str, Any]:
    return {
        "id": opp.id,
        "ref": f"O{opp.id}",
        "name": opp.name,
        "customer_id": opp.customer_id,
        "lead_id": opp.lead_id,
        "amount": money(opp.amount),
        "currency": cur,
        "probability": opp.probability,
        "weighted_amount": money(opportunities.weighted_amount(opp.amount, opp.probability)),
        "stage": opp.stage,
        "expected_close_date": iso(opp.expected_close_date),
        "actual_close_date": iso(opp.actual_close_date),
        "assigned_to": opp.assigned_to_id,
        "loss_reason": opp.loss_reason,
        "last_contacted_at": iso(opp.last_contacted_at),
        "created_at": iso(opp.created_at),
        "updated_at": iso(opp.updated_at),
    }


@operation(
    "POST",
    "/opportunities",
    body=OpportunityIn,
    response=OpportunityOut,
    status=201,
    scope="write",
    summary="Create an opportunity",
    tag="opportunities",
)
def create(call: Call) -> Any:
    """Exactly one of ``customer_id`` and ``lead_id``, of the token's company."""
    b = call.body
    opp = opportunities.create_opportunity(
        call.actor,
        name=b.name,
        customer_id=b.customer_id,
        lead_id=b.lead_id,
        amount=b.amount,
        probability=b.probability,
        stage=b.stage,
        expected_close_date=day(call.actor, b.expected_close_date, "expected_close_date"),
        assigned_to_id=member_id(call.actor, b.assigned_to),
    )
    return {"data": render(opp, currency(call.actor))}


@operation(
    "GET",
    "/opportunities",
    query=OpportunityQuery,
    response=OpportunityList,
    scope="read",
    summary="List opportunities",
    tag="opportunities",
)
def list_(call: Call) -> Any:
    q = call.query
    rows = collections.opportunities(
        call.actor,
        after=q.after,
        limit=q.limit,
        stage=q.stage,
        assigned_to_id=member_id(call.actor, q.assigned_to),
        customer_id=q.customer_id,
        close_before=q.close_before,
        close_after=q.close_after,
    )
    cur = currency(call.actor)
    return page(rows, q.limit, lambda o: render(o, cur))


@operation(
    "GET",
    "/opportunities/{id}",
    query=NoQuery,
    response=OpportunityOut,
    scope="read",
    summary="Read an opportunity",
    tag="opportunities",
)
def read(call: Call) -> Any:
    opp = opportunities.get_opportunity(call.actor, call.path["id"])
    return {"data": render(opp, currency(call.actor))}


@operation(
    "PATCH",
    "/opportunities/{id}",
    body=OpportunityPatch,
    response=OpportunityOut,
    scope="write",
    summary="Update an opportunity",
    tag="opportunities",
)
def update(call: Call) -> Any:
    fields = call.given()
    if "assigned_to" in fields:
        fields["assigned_to_id"] = member_id(call.actor, fields.pop("assigned_to"))
    if fields.get("expected_close_date") is not None:
        fields["expected_close_date"] = day(
            call.actor, fields["expected_close_date"], "expected_close_date"
        )
    opp = opportunities.update_opportunity(call.actor, call.path["id"], **fields)
    return {"data": render(opp, currency(call.actor))}
