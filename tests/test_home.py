"""App Home and the record buttons end to end (SPEC 5.2), over real HTTP against the real web
process, on both backends: Home published on ``app_home_opened`` with the member's follow-ups
and deals (and the team pipeline for managers), re-published after their changes, its Done /
Snooze buttons, and the ``open_record`` / ``opp_stage`` buttons on messages and in views."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.blocks.home import HomeData, home_view
from crm import followups, leads, opportunities
from crm.analytics import PipelineSummary, StageTotals
from crm.clock import utcnow
from crm.models import FollowUp, Lead, Opportunity
from tests.e2e_support import SlackClient, SlackUserRef, check_view, site_fixture
from tests.surface_support import (
    Site,
    Team,
    buttons,
    calls_for,
    click_in_view,
    closed,
    make_team,
    opened_view,
    published_home,
    slack_client,
    submit,
    text_of,
    wait_calls,
    wait_until,
)

pytestmark = pytest.mark.slow

site = site_fixture("H")
slack = slack_client


@pytest.fixture
def team(site: Site) -> Team:
    return make_team(site, "H")


def open_home(slack: SlackClient, user: SlackUserRef) -> None:
    event = {"type": "app_home_opened", "user": user.id, "channel": "DHOME", "tab": "home"}
    assert slack.event(event, team_id=user.team_id).status == 200


def seed(team: Team) -> dict[str, int]:
    """A rep's overdue and upcoming follow-ups and open deal, and a manager's own work."""
    rep, manager = team.actor(team.rep), team.actor(team.manager)
    lead = leads.create_lead(rep, name="Jane Doe")
    now = utcnow()
    late = followups.create_follow_up(
        rep,
        subject_type="lead",
        subject_id=lead.id,
        title="Call back",
        due_at=now - timedelta(days=2),
        priority="high",
    )
    soon = followups.create_follow_up(
        rep,
        subject_type="lead",
        subject_id=lead.id,
        title="Send quote",
        due_at=now + timedelta(days=2),
    )
    theirs = followups.create_follow_up(
        manager, subject_type="lead", subject_id=lead.id, title="Manager's", due_at=now
    )
    opp = opportunities.create_opportunity(
        rep, name="Rep deal", lead_id=lead.id, amount=Decimal(100000), stage="proposal"
    )
    other = opportunities.create_opportunity(
        manager, name="Manager deal", lead_id=lead.id, amount=Decimal(40000)
    )
    return {
        "lead": lead.id,
        "late": late.id,
        "soon": soon.id,
        "theirs": theirs.id,
        "opp": opp.id,
        "other": other.id,
    }


def test_home_shows_a_reps_follow_ups_and_deals_and_a_managers_team_pipeline(
    slack: SlackClient, site: Site, team: Team
) -> None:
    ids = seed(team)
    open_home(slack, team.rep)
    home = published_home(site.fake, team.rep)
    text = text_of(home["blocks"])
    assert "Overdue follow-ups (1)" in text and f"*F{ids['late']}* Call back :red_circle:" in text
    assert "Upcoming follow-ups (1)" in text and f"*F{ids['soon']}* Send quote" in text
    assert "Manager's" not in text and "Manager deal" not in text
    assert f"*O{ids['opp']}* Rep deal · Proposal · K100,000 (50%)" in text
    assert "Team pipeline" not in text
    assert [b["value"] for b in buttons(home["blocks"], "followup_done")] == [
        str(ids["late"]),
        str(ids["soon"]),
    ]
    snoozes = {
        b["value"]
        for key in ("1h", "1d", "1w")
        for b in buttons(home["blocks"], f"followup_snooze_{key}")
    }
    assert f"{ids['late']}:1h" in snoozes and f"{ids['soon']}:1w" in snoozes
    assert f"O{ids['opp']}" in {b["value"] for b in buttons(home["blocks"], "open_record")}

    open_home(slack, team.manager)
    team_home = text_of(published_home(site.fake, team.manager)["blocks"])
    assert "Team pipeline" in team_home and "Total: 2 open · K140,000" in team_home
    assert "weighted K54,000" in team_home  # 100k × 50% + 40k × 10% (rule 2)
    assert f"*O{ids['other']}* Manager deal" in team_home and "Rep deal" not in team_home


def test_done_and_snooze_on_home_act_send_a_receipt_and_republish(
    slack: SlackClient, site: Site, team: Team
) -> None:
    ids = seed(team)
    open_home(slack, team.rep)
    home = published_home(site.fake, team.rep)

    assert click_in_view(slack, "followup_done", str(ids["late"]), team.rep, home).status == 200
    (dm,) = wait_calls(site.fake, "chat.postMessage", team.rep)
    assert f"F{ids['late']}" in dm.args["text"] and buttons(dm.args["blocks"], "undo")
    assert FollowUp.get_by_id(ids["late"]).status == "completed"
    after = text_of(published_home(site.fake, team.rep, 2)["blocks"])
    assert "Nothing overdue" in after and "Call back" not in after

    value = f"{ids['soon']}:1d"
    assert click_in_view(slack, "followup_snooze_1d", value, team.rep, home).status == 200
    snooze_dm = wait_calls(site.fake, "chat.postMessage", team.rep, 2)[-1]
    assert f"F{ids['soon']} snoozed" in snooze_dm.args["text"]
    assert "No reminders until" in text_of(snooze_dm.args["blocks"])
    snoozed = FollowUp.get_by_id(ids["soon"])
    assert snoozed.snoozed_until is not None and snoozed.snoozed_until > utcnow()

    # someone else's follow-up: refused, the reason comes as a DM, nothing changes
    click_in_view(slack, "followup_done", str(ids["theirs"]), team.rep, home)
    refusal = wait_calls(site.fake, "chat.postMessage", team.rep, 3)[-1]
    assert "manager" in refusal.args["text"]
    assert FollowUp.get_by_id(ids["theirs"]).status != "completed"


def test_home_is_republished_after_the_members_changes(
    slack: SlackClient, site: Site, team: Team
) -> None:
    open_home(slack, team.rep)
    published_home(site.fake, team.rep)
    assert slack.command("followup", team.rep).status == 200  # opens the New follow-up form
    lead = leads.create_lead(team.actor(team.rep), name="Fresh")
    view = opened_view(site.fake, team.rep)
    values = {"ref": f"L{lead.id}", "title": "Fresh follow-up", "due": "in 3 days"}
    closed(submit(slack, view, team.rep, values))
    text = text_of(published_home(site.fake, team.rep, 2)["blocks"])
    assert "Fresh follow-up" in text

    slack.command('lead add "Command lead"', team.rep)  # a /crm write refreshes Home too
    published_home(site.fake, team.rep, 3)
    assert Lead.select().where(Lead.name == "Command lead").count() == 1


def test_open_record_posts_the_card_or_opens_it_as_a_modal(
    slack: SlackClient, site: Site, team: Team
) -> None:
    ids = seed(team)
    fake = site.fake
    r = slack.click(
        "open_record", f"L{ids['lead']}", team.rep, response_url=fake.response_url("or1")
    )
    assert r.status == 200
    card = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/or1"], "card")[0]
    assert card.args["response_type"] == "ephemeral" and card.args["replace_original"] is False
    assert f"*L{ids['lead']}* Jane Doe" in text_of(card.args["blocks"])

    slack.click("open_record", f"F{ids['late']}", team.rep, response_url=fake.response_url("or2"))
    fu = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/or2"], "card")[0]
    assert f"*F{ids['late']}* Call back" in text_of(fu.args["blocks"])

    open_home(slack, team.rep)
    home = published_home(fake, team.rep)
    click_in_view(slack, "open_record", f"O{ids['opp']}", team.rep, home)
    modal = opened_view(fake, team.rep)
    assert modal["title"]["text"] == f"Opportunity O{ids['opp']}"
    assert json.loads(modal["private_metadata"]) == {"card": f"O{ids['opp']}"}
    assert f"*O{ids['opp']}* Rep deal" in text_of(modal["blocks"])

    # a record of another workspace is "not found" (rule 8)
    stranger = make_team(site, "H")
    slack.click(
        "open_record", f"L{ids['lead']}", stranger.rep, response_url=fake.response_url("or3")
    )
    refused = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/or3"], "refusal")
    assert f"L{ids['lead']} not found" in refused[0].args["text"]


def test_opp_stage_moves_the_deal_and_updates_the_card_with_undo(
    slack: SlackClient, site: Site, team: Team
) -> None:
    ids = seed(team)
    fake = site.fake
    value = json.dumps({"ref": f"O{ids['opp']}", "stage": "negotiation"})
    slack.click("opp_stage", value, team.rep, response_url=fake.response_url("st1"))
    moved = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/st1"], "card")[0]
    assert moved.args["replace_original"] is True
    text = text_of(moved.args["blocks"])
    assert f"Moved *O{ids['opp']}* Rep deal → Negotiation" in text
    opp = Opportunity.get_by_id(ids["opp"])
    assert (opp.stage, opp.probability) == ("negotiation", 75)
    (undo,) = buttons(moved.args["blocks"], "undo")
    stage_targets = {
        json.loads(b["value"])["stage"] for b in buttons(moved.args["blocks"], "opp_stage")
    }
    assert "negotiation" not in stage_targets and "proposal" in stage_targets

    slack.click("opp_stage", value, team.rep, response_url=fake.response_url("st2"))
    again = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/st2"], "card")[0]
    assert "already in Negotiation" in text_of(again.args["blocks"])

    slack.click("opp_stage", "not json", team.rep, response_url=fake.response_url("st3"))
    bad = wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/st3"], "refusal")[0]
    assert "stage:" in bad.args["text"]

    slack.click("undo", undo["value"], team.rep, response_url=fake.response_url("st4"))
    wait_until(fake, lambda cs: [c for c in cs if c.path == "/response/st4"], "undo")
    assert Opportunity.get_by_id(ids["opp"]).stage == "proposal"
    assert not calls_for(fake, "chat.postMessage", team.rep)  # all answers rode response_urls


def test_a_busy_home_stays_within_slacks_limits() -> None:
    """Pure rendering: 30 overdue follow-ups and 30 deals still make a valid Home of at most
    100 blocks that points to the lists for the rest."""
    now = utcnow()
    late = [
        FollowUp(
            id=i,
            title=f"Call {i} " + "x" * 200,
            due_at=now - timedelta(days=1),
            followable_type="lead",
            followable_id=i,
            priority="high",
        )
        for i in range(1, 31)
    ]
    deals = [
        Opportunity(id=i, name=f"Deal {i}", stage="proposal", amount=Decimal(1000), probability=50)
        for i in range(1, 31)
    ]
    zero = PipelineSummary(
        None, None, (StageTotals("proposal", 0, Decimal(0), Decimal(0)),), 0, Decimal(0), Decimal(0)
    )
    data = HomeData(late, [], deals, zero, zero, "ZMW", now)
    view = home_view(data)
    check_view(view, "busy home")
    assert len(view["blocks"]) <= 100
    text = text_of(view["blocks"])
    assert "Overdue follow-ups (10+)" in text and "More in `/crm followups`" in text
    assert "Upcoming follow-ups are in `/crm followups`" in text
    assert "More in `/crm opp list mine`" in text and "Team pipeline" in text
