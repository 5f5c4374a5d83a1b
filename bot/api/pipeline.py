"""``GET /cms/crm/pipeline``: the pipeline summary (SPEC 7) of open opportunities."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.api.common import MemberRef, PageQuery, currency, member_id, money
from bot.api.core import Call, Output, Schema, operation
from crm import analytics


class PipelineQuery(Schema):
    model_config = PageQuery.model_config

    assigned_to: MemberRef | None = Field(None, description="one member's deals; else the team's")
    period_days: int | None = Field(
        None, ge=1, le=3660, description="only deals created in the last N days"
    )


class StageRecord(Output):
    stage: str
    count: int
    amount: str
    weighted_amount: str


class Pipeline(Output):
    stages: list[StageRecord]
    count: int
    amount: str
    weighted_amount: str
    currency: str
    assigned_to: int | None
    period_days: int | None


class PipelineOut(Output):
    data: Pipeline


@operation(
    "GET",
    "/pipeline",
    query=PipelineQuery,
    response=PipelineOut,
    scope="read",
    summary="Pipeline summary by stage",
    tag="pipeline",
)
def summary(call: Call) -> Any:
    """Every open stage in pipeline order (zeros included): count, amount and weighted amount
    (amount x probability / 100, rule 2), and the totals."""
    q = call.query
    who = member_id(call.actor, q.assigned_to)
    s = analytics.pipeline_summary(
        call.actor, member_id=who, team=who is None, period_days=q.period_days
    )
    return {
        "data": {
            "stages": [
                {
                    "stage": st.stage,
                    "count": st.count,
                    "amount": money(st.amount),
                    "weighted_amount": money(st.weighted_amount),
                }
                for st in s.stages
            ],
            "count": s.count,
            "amount": money(s.amount),
            "weighted_amount": money(s.weighted_amount),
            "currency": currency(call.actor),
            "assigned_to": s.member_id,
            "period_days": s.period_days,
        }
    }
