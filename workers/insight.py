"""Insight off the request path (SPEC 13): the nightly fits, one message per company, and the
lead-score rebuild after a lead is won or lost.

As with new orders (:mod:`workers.metrics`), a closed lead reaches the worker by *scanning*:
``scan_closed_leads`` (every minute) asks the database which companies have a lead moved to
won or lost since their last lead-score model and enqueues a rebuild for each. Whatever closed
the lead (Slack, the JSON API, an import), and whether or not Redis kept the message, the
database says what is stale.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from peewee import JOIN, fn

from crm.insight import clv, leadscore
from crm.models import Company, InsightFit, StageChange
from workers.reminders import parse_now

__all__ = [
    "fit_company_insight",
    "nightly_insight",
    "rebuild_lead_scores",
    "scan_closed_leads",
    "stale_lead_models",
]

log = logging.getLogger("crm.workers")

LOOKBACK = timedelta(days=2)  # older closings are the nightly rebuild's


@dramatiq.actor(queue_name="insight", max_retries=0, time_limit=5 * 60_000)
def nightly_insight(now: str | None = None) -> None:
    """Enqueued by the scheduler each night: one fit per company, so one large company
    neither delays nor fails the others."""
    for (company_id,) in Company.select(Company.id).tuples():
        fit_company_insight.send(company_id, now=now)


@dramatiq.actor(
    queue_name="insight",
    max_retries=3,
    min_backoff=60_000,
    max_backoff=30 * 60_000,
    time_limit=30 * 60_000,
)
def fit_company_insight(company_id: int, now: str | None = None) -> None:
    """Fit the lifetime-value models on the orders to today, refresh every customer's
    prediction (and with them the segment counts), and rebuild the lead scores."""
    company = Company.get_or_none(Company.id == company_id)
    if company is None:
        return  # the workspace was removed since the scan
    at = parse_now(now)
    result = clv.fit_company(company, now=at)
    written = clv.predict_company(company, now=at)
    scored = leadscore.rebuild_scores(company, now=at)
    log.info(
        "insight %s: %d customers (%d repeat), %d predictions, %d leads scored",
        company.team_id, result.customers, result.repeaters, written, scored.scored,
    )  # fmt: skip


def stale_lead_models(now: datetime, lookback: timedelta = LOOKBACK) -> list[int]:
    """Companies with a lead moved to won or lost after their latest lead-score model (or
    without one): one query."""
    latest = (
        InsightFit.unscoped(
            InsightFit.company,
            fn.MAX(InsightFit.fitted_at).alias("at"),
            why="the hourly check looks for stale models in every workspace",
        )
        .where(InsightFit.kind == "lead_score")
        .group_by(InsightFit.company)
        .alias("latest")
    )
    rows = (
        StageChange.unscoped(StageChange.company, why="as above: every workspace, one query")
        .join(latest, JOIN.LEFT_OUTER, on=(latest.c.company_id == StageChange.company))
        .where(
            (StageChange.entity_type == "lead")
            & StageChange.to_stage.in_(("won", "lost"))
            & (StageChange.changed_at >= now - lookback)
            & (latest.c.at.is_null() | (StageChange.changed_at >= latest.c.at))
        )
        .distinct()
        .tuples()
    )
    return [company_id for (company_id,) in rows]


@dramatiq.actor(queue_name="insight", max_retries=0, time_limit=5 * 60_000)
def scan_closed_leads(now: str | None = None) -> None:
    """Periodic, so never retried."""
    for company_id in stale_lead_models(parse_now(now)):
        rebuild_lead_scores.send(company_id, now=now)


@dramatiq.actor(
    queue_name="insight", max_retries=5, min_backoff=5_000, max_backoff=10 * 60_000,
    time_limit=10 * 60_000,
)  # fmt: skip
def rebuild_lead_scores(company_id: int, now: str | None = None) -> None:
    """Idempotent: a second rebuild writes the same scores."""
    company = Company.get_or_none(Company.id == company_id)
    if company is not None:
        leadscore.rebuild_scores(company, now=parse_now(now))
