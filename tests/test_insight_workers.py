"""Insight through real Dramatiq workers on Redis (SPEC 13): the nightly fit per company, the
weekly digest's customers whose P(alive) fell below 50% that week, and the lead-score rebuild
after a lead is won."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import time_machine

from crm.insight.clv import MIN_REPEATERS
from crm.leads import set_lead_status
from crm.models import Company, CustomerPrediction, InsightFit, Lead, LeadScore
from tests import workers_support
from tests.conftest import Workspace, make_workspace
from tests.insight_leads import make_history
from tests.insight_support import SAMPLE, load_orders
from tests.slack_fake import FakeSlack
from tests.workers_support import Workers, posts
from workers.digests import send_weekly_digest
from workers.insight import nightly_insight, scan_closed_leads, stale_lead_models

fake = workers_support.fake
redis_workers = workers_support.redis_workers
redis_namespace = workers_support.redis_namespace

MONDAY_29_SEPT = datetime(1997, 9, 29, 7, 0)  # the nights before two Mondays, UTC
MONDAY_6_OCT = datetime(1997, 10, 6, 7, 0)


def nightly(workers: Workers, at: datetime) -> None:
    nightly_insight.send(now=at.isoformat())
    workers.drain(timeout=120)


def predictions(company_id: int) -> dict[int, float]:
    return dict(
        CustomerPrediction.select(CustomerPrediction.customer, CustomerPrediction.p_alive)
        .where(CustomerPrediction.company == company_id)
        .tuples()
    )


def test_nightly_fit_per_company_and_the_digest_lists_who_slipped(
    acme: Workspace, fake: FakeSlack, redis_workers: Workers
) -> None:
    Company.update(timezone="America/New_York", currency="USD", digest_channel="CINSIGHT").where(
        Company.id == acme.company.id
    ).execute()
    load_orders(acme.company.id, SAMPLE)
    small = make_workspace("TSMALL", "Small")  # no orders at all

    nightly(redis_workers, MONDAY_29_SEPT)
    fit = InsightFit.get((InsightFit.company == acme.company.id) & (InsightFit.kind == "clv"))
    assert fit.data_until == date(1997, 9, 29) and fit.params is not None
    assert fit.sample_size == 2357 and fit.informative > MIN_REPEATERS
    before = predictions(acme.company.id)
    assert len(before) == 2357
    lonely = InsightFit.get((InsightFit.company == small.company.id) & (InsightFit.kind == "clv"))
    assert lonely.params is None and (lonely.informative, lonely.needed) == (0, MIN_REPEATERS)
    assert predictions(small.company.id) == {}
    # a first prediction has nothing to fall from
    assert (
        not CustomerPrediction.select()
        .where(CustomerPrediction.below_half_at.is_null(False))
        .exists()
    )

    nightly(redis_workers, MONDAY_6_OCT)
    after = predictions(acme.company.id)
    fell = {c for c, p in after.items() if p < 0.5 and before.get(c, 1.0) >= 0.5}
    assert fell, "a week without purchases should push some customers below 50%"
    marked = {
        c
        for (c,) in CustomerPrediction.select(CustomerPrediction.customer)
        .where(CustomerPrediction.below_half_at == MONDAY_6_OCT)
        .tuples()
    }
    assert marked == fell

    monday_nine = MONDAY_6_OCT.replace(hour=13)  # 09:00 in New York
    send_weekly_digest.send(
        "occasion:digest:weekly:1997-W41", company_id=acme.company.id, now=monday_nine.isoformat()
    )
    redis_workers.drain()
    [post] = posts(fake, "CINSIGHT")
    text = str(post.args["blocks"])
    assert "Customers slipping away (probability alive fell below 50%)" in text
    listed = {int(ref) for ref in re.findall(r"\*C(\d+)\*", text)}
    assert listed and listed <= fell
    assert len(listed) == min(len(fell), 15)


def test_a_won_lead_rebuilds_the_scores_through_the_workers(
    acme: Workspace, redis_workers: Workers
) -> None:
    make_history(acme.company.id, [acme.rep], 40, 3)
    assert stale_lead_models(datetime.utcnow()) == []  # closed directly, no stage moves yet
    lead = Lead.select().where(Lead.status == "qualified").first()
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    with time_machine.travel(a_minute_ago, tick=False):
        set_lead_status(acme.actor(acme.manager), lead.id, "won")
    assert stale_lead_models(datetime.utcnow()) == [acme.company.id]
    scan_closed_leads.send()
    redis_workers.drain()
    fit = InsightFit.get(
        (InsightFit.company == acme.company.id) & (InsightFit.kind == "lead_score")
    )
    assert fit.sample_size == 41 and fit.params is not None
    assert LeadScore.select().where(LeadScore.company == acme.company.id).count() == 2
    # the model is newer than the closing: the next scan finds nothing to do
    assert stale_lead_models(datetime.utcnow()) == []
