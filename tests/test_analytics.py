"""Pipeline analytics against a history built on known dates, checked by hand.

The story (all times UTC; "now" is 2026-04-01 12:00, the 90-day window opens 2026-01-01 12:00):

deal  member  for (lead source)        amount     created         closed                 cycle
A     rep     lead L1 (referral)       10,000     01-10 09:00     won  01-20 09:00       10 d
B     rep     customer of L3 (event)   30,000     02-01 00:00     won  03-03 00:00       30 d
C     rep2    lead L2 (website)        20,000     02-10 00:00     lost 02-15 "Price"      5 d
D     rep2    customer, no lead         5,000     03-01 00:00     lost 03-08 "price"      7 d
E     rep     customer, no lead         8,000     2025-12-01      lost 2025-12-20 (before the window)
F     rep2    lead L2 (website)        12,000     01-05 00:00     lost 01-15, reopened 02-01: open
G     rep     customer of L3 (event)   40,000 @60% 03-20, moved to proposal: open
H     rep2    customer, no lead      1,000.10     03-26 prospecting: open
I     rep     customer of L1 (referral) 6,000     02-20 00:00     lost 03-10 "no budget" 18 d
J     rep     customer, no lead      2,500.05     03-28 negotiation: open

Closed in the window: won A, B (40,000); lost C, D, I (31,000). F's loss was undone by its
reopening and E closed before the window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from crm import analytics
from crm import opportunities as opps
from crm.acting import Actor
from crm.customers import create_customer
from crm.errors import NotFound, PermissionDenied, ValidationError
from crm.leads import convert_lead, create_lead
from crm.models import Opportunity
from tests.conftest import Workspace

NOW = datetime(2026, 4, 1, 12, 0)


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=False)


def build_history(ws: Workspace) -> dict[str, Opportunity]:
    rep, rep2 = ws.actor(ws.rep), ws.actor(ws.rep2)
    admin = ws.actor(ws.admin)
    with at(datetime(2025, 11, 1)):
        mk = {"assigned_to_id": None, "allow_duplicate": True}
        l1 = create_lead(admin, name="Referral lead", source="referral", **mk)
        l2 = create_lead(admin, name="Website lead", source="website", **mk)
        l3 = create_lead(admin, name="Event lead", source="event", **mk)
        event_customer = convert_lead(admin, l3.id)
        plain = create_customer(admin, name="Walk-in", **mk)

    def create(actor: Actor, when: datetime, **kwargs) -> Opportunity:
        with at(when):
            return opps.create_opportunity(actor, name=f"deal {when:%m-%d}", **kwargs)

    def step(when: datetime, fn, *args, **kwargs) -> Opportunity:
        with at(when):
            return fn(*args, **kwargs)

    d: dict[str, Opportunity] = {}
    d["E"] = create(rep, datetime(2025, 12, 1), customer_id=plain.id, amount=Decimal(8000))
    step(datetime(2025, 12, 20), opps.mark_lost, rep, d["E"].id, reason="timing")
    d["F"] = create(rep2, datetime(2026, 1, 5), lead_id=l2.id, amount=Decimal(12000))
    step(datetime(2026, 1, 15), opps.mark_lost, rep2, d["F"].id, reason="timing")
    step(datetime(2026, 2, 1), opps.move_stage, rep2, d["F"].id, "qualification")
    d["A"] = create(rep, datetime(2026, 1, 10, 9), lead_id=l1.id, amount=Decimal(10000))
    step(datetime(2026, 1, 20, 9), opps.mark_won, rep, d["A"].id)
    referral_customer = Opportunity.get_by_id(d["A"].id).customer_id
    d["B"] = create(rep, datetime(2026, 2, 1), customer_id=event_customer.id, amount=Decimal(30000))
    step(datetime(2026, 2, 5), opps.move_stage, rep, d["B"].id, "negotiation")
    step(datetime(2026, 3, 3), opps.mark_won, rep, d["B"].id)
    d["C"] = create(rep2, datetime(2026, 2, 10), lead_id=l2.id, amount=Decimal(20000))
    step(datetime(2026, 2, 15), opps.mark_lost, rep2, d["C"].id, reason="Price")
    d["D"] = create(rep2, datetime(2026, 3, 1), customer_id=plain.id, amount=Decimal(5000))
    step(datetime(2026, 3, 8), opps.mark_lost, rep2, d["D"].id, reason="price")
    d["I"] = create(rep, datetime(2026, 2, 20), customer_id=referral_customer, amount=Decimal(6000))
    step(datetime(2026, 3, 10), opps.mark_lost, rep, d["I"].id, reason="no budget")
    d["G"] = create(
        rep,
        datetime(2026, 3, 20),
        customer_id=event_customer.id,
        amount=Decimal(40000),
        probability=60,
    )
    step(datetime(2026, 3, 21), opps.move_stage, rep, d["G"].id, "proposal")
    d["H"] = create(rep2, datetime(2026, 3, 26), customer_id=plain.id, amount=Decimal("1000.10"))
    d["J"] = create(
        rep,
        datetime(2026, 3, 28),
        customer_id=plain.id,
        amount=Decimal("2500.05"),
        stage="negotiation",
    )
    return d


@pytest.fixture
def story(acme: Workspace) -> dict[str, Opportunity]:
    return build_history(acme)


# --- win/loss ----------------------------------------------------------------------------------


def test_win_loss_for_the_team(acme: Workspace, story) -> None:
    wl = analytics.win_loss(acme.actor(acme.manager), team=True, now=NOW)
    t = wl.total
    assert (t.won_count, t.lost_count) == (2, 3)
    assert (t.won_amount, t.lost_amount) == (Decimal("40000.00"), Decimal("31000.00"))
    assert t.win_rate_count == pytest.approx(2 / 5)
    assert t.win_rate_value == pytest.approx(40000 / 71000)
    assert wl.avg_cycle_days_won == pytest.approx(20.0)  # (10 + 30) / 2
    assert wl.avg_cycle_days_lost == pytest.approx(10.0)  # (5 + 7 + 18) / 3
    assert wl.start == datetime(2026, 1, 1, 12, 0) and wl.end == NOW

    by_member = {s.key: s for s in wl.by_member}
    assert [s.key for s in wl.by_member] == [acme.rep.id, acme.rep2.id]
    rep, rep2 = by_member[acme.rep.id], by_member[acme.rep2.id]
    assert rep.label == acme.rep.name
    assert (rep.won_count, rep.lost_count, rep.won_amount, rep.lost_amount) == (
        2,
        1,
        Decimal(40000),
        Decimal(6000),
    )
    assert rep.win_rate_count == pytest.approx(2 / 3)
    assert rep.win_rate_value == pytest.approx(40 / 46)
    assert (rep2.won_count, rep2.lost_count, rep2.lost_amount) == (0, 2, Decimal(25000))
    assert (rep2.win_rate_count, rep2.win_rate_value) == (0.0, 0.0)

    by_source = {s.key: s for s in wl.by_source}
    assert [s.key for s in wl.by_source] == ["event", "referral", "unknown", "website"]
    assert (by_source["referral"].won_count, by_source["referral"].lost_count) == (1, 1)
    assert by_source["referral"].win_rate_value == pytest.approx(10 / 16)
    assert by_source["event"].win_rate_count == 1.0
    assert (by_source["website"].lost_amount, by_source["website"].win_rate_count) == (
        Decimal(20000),
        0.0,
    )
    assert by_source["unknown"].lost_amount == Decimal(5000)

    reasons = [(r.reason, r.count, r.amount) for r in wl.top_loss_reasons]
    assert reasons == [("Price", 2, Decimal(25000)), ("no budget", 1, Decimal(6000))]


def test_win_loss_for_a_rep_is_their_own(acme: Workspace, story) -> None:
    wl = analytics.win_loss(acme.actor(acme.rep), now=NOW)
    assert wl.member_id == acme.rep.id
    assert (wl.total.won_count, wl.total.lost_count) == (2, 1)
    assert [s.key for s in wl.by_member] == [acme.rep.id]
    assert wl.avg_cycle_days_lost == pytest.approx(18.0)
    assert [r.reason for r in wl.top_loss_reasons] == ["no budget"]
    data = wl.as_dict()
    assert data["total"]["won_amount"] == "40000.00"
    assert data["end"] == "2026-04-01T12:00:00"


def test_reopened_deals_are_not_lost_and_history_answers_for_the_past(
    acme: Workspace, story
) -> None:
    # on 2026-01-16 F had just been lost (reopened only on 02-01); E is inside 90 days too
    wl = analytics.win_loss(acme.actor(acme.manager), team=True, now=datetime(2026, 1, 16))
    assert (wl.total.won_count, wl.total.lost_count) == (0, 2)
    # E's reason; F's was cleared when it was reopened (a reason is a field, not history)
    reasons = [(r.reason, r.count, r.amount) for r in wl.top_loss_reasons]
    assert reasons == [("no reason given", 1, Decimal(12000)), ("timing", 1, Decimal(8000))]


# --- velocity --------------------------------------------------------------------------------


def test_velocity_team_and_rep(acme: Workspace, story) -> None:
    team = analytics.velocity(acme.actor(acme.manager), team=True, now=NOW)
    # open F, G, H, J; average won 20,000; win rate 2/5; won cycle 20 days
    assert (team.open_count, team.won_count, team.lost_count) == (4, 2, 3)
    assert team.average_won_amount == Decimal("20000.00")
    assert team.win_rate == pytest.approx(0.4)
    assert team.average_cycle_days == pytest.approx(20.0)
    assert team.per_day == Decimal("1600.00")  # 4 × 20,000 × 0.4 / 20
    rep = analytics.velocity(acme.actor(acme.rep), now=NOW)
    assert (rep.open_count, rep.won_count, rep.lost_count) == (2, 2, 1)  # G, J open
    assert rep.per_day == Decimal("1333.33")  # 2 × 20,000 × 2/3 / 20
    assert rep.as_dict()["per_day"] == "1333.33"


def test_velocity_as_of_a_past_day(acme: Workspace, story) -> None:
    # 2026-02-16: open B and F (reopened); won A (10 d); lost C and E (E is within 90 days)
    v = analytics.velocity(acme.actor(acme.admin), team=True, now=datetime(2026, 2, 16))
    assert (v.open_count, v.won_count, v.lost_count) == (2, 1, 2)
    assert v.average_cycle_days == pytest.approx(10.0)
    assert v.per_day == Decimal("666.67")  # 2 × 10,000 × 1/3 / 10


def test_velocity_without_wins_is_zero(acme: Workspace, story) -> None:
    v = analytics.velocity(acme.actor(acme.rep2), now=NOW)
    assert (v.won_count, v.lost_count, v.open_count) == (0, 2, 2)  # F, H open
    assert (v.per_day, v.average_won_amount, v.average_cycle_days) == (Decimal(0), None, None)
    assert v.win_rate == 0.0


# --- pipeline --------------------------------------------------------------------------------


def test_pipeline_per_stage(acme: Workspace, story) -> None:
    with at(NOW):
        team = analytics.pipeline_summary(acme.actor(acme.manager), team=True)
        mine = analytics.pipeline_summary(acme.actor(acme.rep))
        recent = analytics.pipeline_summary(acme.actor(acme.admin), team=True, period_days=7)
    rows = [(s.stage, s.count, s.amount, s.weighted_amount) for s in team.stages]
    assert rows == [
        ("prospecting", 1, Decimal("1000.10"), Decimal("100.01")),  # H at 10 %
        ("qualification", 1, Decimal("12000.00"), Decimal("3000")),  # F at 25 %
        ("proposal", 1, Decimal("40000.00"), Decimal("24000")),  # G at its own 60 %
        ("negotiation", 1, Decimal("2500.05"), Decimal("1875.0375")),  # J at 75 %
    ]
    assert (team.count, team.amount, team.weighted_amount) == (
        4,
        Decimal("55500.15"),
        Decimal("28975.0475"),
    )
    # the totals are the sum of rule 2 applied deal by deal, to the last digit
    open_deals = Opportunity.select().where(Opportunity.stage.not_in(analytics.CLOSED_STAGES))
    assert team.weighted_amount == sum(
        opps.weighted_amount(o.amount, o.probability) for o in open_deals
    )
    assert (mine.member_id, mine.count, mine.amount, mine.weighted_amount) == (
        acme.rep.id,
        2,
        Decimal("42500.05"),
        Decimal("25875.0375"),
    )
    assert [s.count for s in mine.stages] == [0, 0, 1, 1]
    assert (recent.count, recent.amount) == (2, Decimal("3500.15"))  # H and J
    assert team.as_dict()["stages"][3] == {
        "stage": "negotiation",
        "count": 1,
        "amount": "2500.05",
        "weighted_amount": "1875.0375",
    }


def test_pipeline_of_an_empty_company(acme: Workspace) -> None:
    summary = analytics.pipeline_summary(acme.actor(acme.rep))
    assert [s.count for s in summary.stages] == [0, 0, 0, 0]
    assert (summary.amount, summary.weighted_amount) == (0, 0)


# --- scope and permissions -----------------------------------------------------------------------


@pytest.mark.parametrize("fn", [analytics.pipeline_summary, analytics.win_loss, analytics.velocity])
def test_reps_see_their_own_managers_the_team(
    acme: Workspace, globex: Workspace, story, fn
) -> None:
    rep = acme.actor(acme.rep)
    with pytest.raises(PermissionDenied) as err:
        fn(rep, team=True)
    assert "manager" in err.value.message
    with pytest.raises(PermissionDenied):
        fn(rep, member_id=acme.rep2.id)
    assert fn(rep, member_id=acme.rep.id).member_id == acme.rep.id
    manager = acme.actor(acme.manager)
    assert fn(manager, member_id=acme.rep2.id).member_id == acme.rep2.id
    assert fn(manager, team=True).member_id is None
    with pytest.raises(NotFound):
        fn(manager, member_id=globex.rep.id)
    with pytest.raises(ValidationError):
        fn(manager, member_id=acme.rep.id, team=True)
    token = Actor(company_id=acme.company.id, kind="token", origin="api", role="integration")
    assert fn(token).member_id is None  # no member of its own: the team


def test_analytics_stay_inside_the_company(acme: Workspace, globex: Workspace, story) -> None:
    other = globex.actor(globex.admin)
    assert analytics.pipeline_summary(other, team=True).count == 0
    assert analytics.win_loss(other, team=True, now=NOW).total.won_count == 0
    assert analytics.velocity(other, team=True, now=NOW).open_count == 0


def test_bad_period_is_refused(acme: Workspace) -> None:
    for bad in (0, 4000, "90"):
        with pytest.raises(ValidationError) as err:
            analytics.velocity(acme.actor(acme.manager), team=True, period_days=bad)
        assert err.value.field == "period"
