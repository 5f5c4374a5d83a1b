"""Daily and weekly digests: who is due one when, what they say, and once per occasion through
real workers to the FakeSlack."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from crm import digests
from crm import followups as fus
from crm.models import Company, Lead, Opportunity, StageChange
from tests import workers_support
from tests.conftest import Workspace
from tests.slack_fake import FakeSlack
from tests.workers_support import Workers, posts
from workers.digests import scan_digests, send_daily_digest

fake = workers_support.fake
stub_workers = workers_support.stub_workers

# Tuesday 10 March 2026. Lusaka is UTC+2 (rep, manager, admin), New York UTC-4 (rep2).
TUE_0700_UTC = datetime(2026, 3, 10, 7, 0)  # 09:00 in Lusaka, 03:00 in New York


def running(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=True)


def follow_up(ws: Workspace, member, due: datetime, title: str = "Call back"):
    lead = Lead.create(company=ws.company.id, name="Mwila")
    with time_machine.travel((due - timedelta(days=3)).replace(tzinfo=UTC), tick=False):
        return fus.create_follow_up(
            ws.actor(member), subject_type="lead", subject_id=lead.id, title=title, due_at=due
        )


def scan(workers: Workers, now: datetime) -> None:
    with running(now):
        scan_digests.send(now=now.isoformat())
        workers.drain()


def test_daily_digest_at_nine_local_on_working_days_only(acme: Workspace) -> None:
    follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(hours=5))  # later today
    follow_up(acme, acme.rep2, TUE_0700_UTC + timedelta(hours=8))  # NY: today 07:00
    due = digests.members_due_daily_digest
    assert due(TUE_0700_UTC - timedelta(minutes=1)) == []  # 08:59 Lusaka
    assert [o.member_id for o in due(TUE_0700_UTC)] == [acme.rep.id]
    assert [o.member_id for o in due(TUE_0700_UTC + timedelta(hours=2, minutes=59))] == [
        acme.rep.id
    ]
    assert due(TUE_0700_UTC + timedelta(hours=3)) == []  # 12:00: too late for a morning digest
    assert [o.member_id for o in due(datetime(2026, 3, 10, 13, 0))] == [acme.rep2.id]  # 09:00 EDT
    saturday = datetime(2026, 3, 14, 7, 0)
    follow_up(acme, acme.rep, saturday + timedelta(hours=2))
    assert due(saturday) == []


def test_no_digest_when_nothing_is_due_today(acme: Workspace) -> None:
    follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(days=1, hours=1))  # tomorrow
    assert digests.members_due_daily_digest(TUE_0700_UTC) == []
    assert digests.daily_digest(acme.rep.id, TUE_0700_UTC) is None


def test_daily_digest_content_splits_overdue_and_today(acme: Workspace) -> None:
    late = follow_up(acme, acme.rep, TUE_0700_UTC - timedelta(days=2), "Send the quote")
    today = follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(hours=6), "Call Mwila")
    follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(hours=17), "Tomorrow's")  # 02:00 Wed
    follow_up(acme, acme.manager, TUE_0700_UTC, "Not mine")
    digest = digests.daily_digest(acme.rep.id, TUE_0700_UTC)
    assert digest is not None and digest.day == date(2026, 3, 10)
    assert [i.follow_up_id for i in digest.overdue] == [late.id]
    assert [i.follow_up_id for i in digest.today] == [today.id]


def test_daily_digest_is_sent_once_through_the_workers(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    fu = follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(hours=3))
    scan(stub_workers, TUE_0700_UTC)
    scan(stub_workers, TUE_0700_UTC + timedelta(minutes=5))
    [post] = posts(fake)
    assert post.args["channel"] == f"D{acme.rep.slack_user_id}"
    text = str(post.args["blocks"])
    assert f"F{fu.id}" in text and "Due today (1)" in text
    assert digests.members_due_daily_digest(TUE_0700_UTC + timedelta(minutes=10)) == []


@pytest.mark.slow
def test_a_failed_digest_is_released_and_sent_by_the_next_scan(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    follow_up(acme, acme.rep, TUE_0700_UTC + timedelta(hours=3))
    fake.fail_methods["chat.postMessage"] = "channel_not_found"
    with running(TUE_0700_UTC):
        occasion = digests.members_due_daily_digest(TUE_0700_UTC)[0]
        send_daily_digest.send(
            occasion.member_id, occasion.key, company_id=acme.company.id, now=None
        )
        fake.wait_for("chat.postMessage", 1)
    fake.fail_methods.clear()
    stub_workers.broker.flush_all()  # drop the pending retry: the scan is enough
    scan(stub_workers, TUE_0700_UTC + timedelta(minutes=5))
    assert len(posts(fake)) == 2  # the refused one and the delivered one
    assert digests.members_due_daily_digest(TUE_0700_UTC + timedelta(minutes=10)) == []


def _pipeline(ws: Workspace, now: datetime) -> dict[str, Opportunity]:
    def opp(name: str, created: datetime, **fields) -> Opportunity:
        return Opportunity.create(
            company=ws.company.id,
            name=name,
            amount=Decimal(10_000),
            assigned_to=ws.rep.id,
            created_at=created,
            **fields,
        )

    moved = opp("Moved", now - timedelta(days=30), stage="proposal")
    StageChange.create(
        company=ws.company.id,
        entity_type="opportunity",
        entity_id=moved.id,
        from_stage="qualification",
        to_stage="proposal",
        changed_at=now - timedelta(days=2),
    )
    StageChange.create(  # last month's move is not this week's news
        company=ws.company.id,
        entity_type="opportunity",
        entity_id=moved.id,
        from_stage="prospecting",
        to_stage="qualification",
        changed_at=now - timedelta(days=20),
    )
    slipped = opp("Slipped", now - timedelta(days=3), expected_close_date=date(2026, 3, 1))
    stale = opp("Stale", now - timedelta(days=40), last_contacted_at=now - timedelta(days=20))
    fresh = opp("Fresh", now - timedelta(days=40), last_contacted_at=now - timedelta(days=2))
    won = opp("Won", now - timedelta(days=40), stage="closed_won")
    return {"moved": moved, "slipped": slipped, "stale": stale, "fresh": fresh, "won": won}


def test_weekly_digest_content(acme: Workspace) -> None:
    monday = datetime(2026, 3, 9, 7, 0)  # 09:00 Lusaka
    opps = _pipeline(acme, monday)
    follow_up(acme, acme.rep, monday - timedelta(days=1))
    follow_up(acme, acme.rep, monday - timedelta(days=2))
    follow_up(acme, acme.rep2, monday - timedelta(hours=1))
    digest = digests.weekly_digest(acme.company.id, monday)
    assert digest.week == "2026-W11" and digest.stage_move_count == 1
    assert [m["id"] for m in digest.stage_moves] == [opps["moved"].id]
    assert [d["id"] for d in digest.slipped] == [opps["slipped"].id]
    assert [d["id"] for d in digest.stale] == [opps["stale"].id]
    assert [(r["member_id"], r["count"]) for r in digest.overdue_by_rep] == [
        (acme.rep.id, 2),
        (acme.rep2.id, 1),
    ]


def test_weekly_digest_monday_nine_company_time_to_its_channel(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    Company.update(digest_channel="CPIPE").where(Company.id == acme.company.id).execute()
    monday = datetime(2026, 3, 9, 7, 0)  # 09:00 in Africa/Lusaka
    _pipeline(acme, monday)
    due = digests.companies_due_weekly_digest
    assert due(monday - timedelta(minutes=1)) == []
    assert due(monday + timedelta(days=1)) == []  # Tuesday
    scan(stub_workers, monday)
    scan(stub_workers, monday + timedelta(minutes=5))
    [post] = [c for c in posts(fake) if c.args["channel"] == "CPIPE"]
    assert "Pipeline week 2026-W11" in str(post.args["blocks"])
    assert due(monday + timedelta(minutes=10)) == []
    assert [o.key for o in due(monday + timedelta(days=7))] == ["occasion:digest:weekly:2026-W12"]
