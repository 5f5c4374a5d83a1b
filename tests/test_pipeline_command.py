"""``/crm pipeline`` end to end: the real web process over HTTP, known deals made through the
services, the numbers in the answer checked against hand-computed ones, the chart uploaded
(or not) through FakeSlack, and the Share in channel button.

One web process per backend serves the whole module; each test has its own workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from crm import customers, opportunities
from crm.acting import Actor
from crm.clock import utcnow
from crm.models import Member
from tests.admin_support import (
    Session,
    Team,
    answer_text,
    button_value,
    new_team,
    session_fixture,
    wait_call,
)
from tests.e2e_support import site_fixture
from tests.slack_fake import Call

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


site = site_fixture("pipeline")
session = session_fixture()


@pytest.fixture
def team(session: Session) -> Team:
    return new_team(session.fake)


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=False)


def build_deals(team: Team) -> None:
    """Known deals. The rep: three open (100,000 at prospecting's 10%; 50,000 at an explicit
    30%; 20,000.50 at proposal's 50%) and three closed ten days after they opened (won 60,000
    and 20,000, lost 30,000). The other rep: 80,000 at negotiation's 75%, 40,000 at 25%."""
    rep, rep2 = team.rep.actor, team.rep2.actor
    base = utcnow().replace(microsecond=0) - timedelta(days=20)
    with at(base):
        buyer = customers.create_customer(rep, name="Zambezi Traders").id

        def deal(actor: Actor, name: str, amount: str, **kw: Any) -> int:
            return opportunities.create_opportunity(
                actor, name=name, customer_id=buyer, amount=Decimal(amount), **kw
            ).id

        deal(rep, "Mine A", "100000")
        deal(rep, "Mine B", "50000", probability=30, stage="proposal")
        deal(rep, "Mine C", "20000.50", stage="proposal")
        won_a = deal(rep, "Won A", "60000")
        won_b = deal(rep, "Won B", "20000")
        lost = deal(rep, "Lost A", "30000", stage="negotiation")
        deal(rep2, "Theirs A", "80000", stage="negotiation")
        deal(rep2, "Theirs B", "40000", probability=25, stage="qualification")
    with at(base + timedelta(days=10)):
        opportunities.mark_won(rep, won_a)
        opportunities.mark_won(rep, won_b)
        opportunities.mark_lost(rep, lost, reason="Price too high")


def uploads_since(session: Session, mark: int) -> list[Call]:
    return session.calls_since(mark, "upload")


def test_a_reps_pipeline_matches_hand_computed_numbers_with_a_png_chart(
    session: Session, team: Team
) -> None:
    build_deals(team)
    mark = session.mark()
    body = session.command("pipeline", team.rep)
    text = answer_text(body)
    assert body["response_type"] == "ephemeral"
    assert "*Your pipeline* · open deals now" in text
    # per stage: count, total, weighted (amount × probability ÷ 100)
    assert "*Prospecting* · 1 deal · K100,000 total · K10,000 weighted" in text
    assert "*Qualification* · 0 deals · K0 total · K0 weighted" in text
    assert "*Proposal* · 2 deals · K70,000.50 total · K25,000.25 weighted" in text
    assert "*Negotiation* · 0 deals · K0 total · K0 weighted" in text
    assert "*Total* · 3 deals · K170,000.50 total · K35,000.25 weighted" in text
    # 3 open × 40,000 average won × 2/3 win rate ÷ 10 days = 8,000 a day
    assert "K8,000 per day" in text
    assert "67% by count · 73% by value" in text
    assert "2 deals · K80,000" in text and "1 deal · K30,000" in text
    assert "won 10.0 days · lost 10.0 days" in text
    assert "Price too high (1)" in text
    assert "over the last 90 days" in text
    assert "Chart posted in <#C0GENERAL>" in text

    (upload,) = uploads_since(session, mark)
    assert upload.body.startswith(PNG)
    (done,) = session.calls_since(mark, "files.completeUploadExternal")
    assert done.args["channel_id"] == "C0GENERAL"
    assert "Rita Rep's pipeline" in done.args["initial_comment"]
    (asked,) = session.calls_since(mark, "files.getUploadURLExternal")
    assert int(asked.args["length"]) == len(upload.body)


def test_managers_see_the_team_and_a_member_reps_are_refused_naming_the_role(
    session: Session, team: Team
) -> None:
    build_deals(team)
    text = answer_text(session.command("pipeline team", team.manager))
    assert "*Team pipeline*" in text
    assert "*Prospecting* · 1 deal · K100,000 total · K10,000 weighted" in text
    assert "*Qualification* · 1 deal · K40,000 total · K10,000 weighted" in text
    assert "*Proposal* · 2 deals · K70,000.50 total · K25,000.25 weighted" in text
    assert "*Negotiation* · 1 deal · K80,000 total · K60,000 weighted" in text
    assert "*Total* · 5 deals · K290,000.50 total · K105,000.25 weighted" in text
    # 5 open × 40,000 × 2/3 ÷ 10 days
    assert "K13,333.33 per day" in text

    text = answer_text(session.command(f"pipeline <@{team.rep.id}|rita> period=30d", team.manager))
    assert f"<@{team.rep.id}>'s pipeline" in text
    assert "*Total* · 3 deals · K170,000.50 total · K35,000.25 weighted" in text
    assert "over the last 30 days" in text

    mark = session.mark()
    for words in ("pipeline team", f"pipeline <@{team.rep2.id}|ned>"):
        text = answer_text(session.command(words, team.rep))
        assert "Only managers and admins may see the team's pipeline; your role is rep." in text
        assert "K290,000.50" not in text and "Theirs" not in text
    # refused before anything happened: no chart, no look-up of the member named
    assert uploads_since(session, mark) == []
    assert session.calls_since(mark, "users.info") == []
    # the rep may still name themselves
    own = answer_text(session.command(f"pipeline <@{team.rep.id}|rita>", team.rep))
    assert "*Total* · 3 deals · K170,000.50 total" in own


def test_bad_period_names_the_field_and_draws_nothing(session: Session, team: Team) -> None:
    mark = session.mark()
    text = answer_text(session.command("pipeline period=forever", team.manager))
    assert 'period: "forever" is not a period; try period=90d' in text
    assert "/crm pipeline [mine|@user|team] [period=90d]" in text  # the usage line
    text = answer_text(session.command("pipeline team period=0d", team.manager))
    assert "period:" in text and "between 1 day and 10 years" in text
    assert session.calls_since(mark, "files.getUploadURLExternal") == []


def test_share_in_channel_posts_the_summary_to_the_channel(session: Session, team: Team) -> None:
    build_deals(team)
    body = session.command("pipeline", team.rep)
    value = button_value(body, "pipeline_share")
    mark = session.mark()
    confirmation = answer_text(session.click("pipeline_share", value, team.rep))
    assert "Shared in <#C0GENERAL>" in confirmation
    (post,) = session.calls_since(mark, "chat.postMessage")
    assert post.args["channel"] == "C0GENERAL"
    shared = answer_text(post.args)
    assert f"<@{team.rep.id}>'s pipeline" in shared  # not "Your pipeline": others read it
    assert "*Total* · 3 deals · K170,000.50 total · K35,000.25 weighted" in shared
    assert f"Shared by <@{team.rep.id}>" in shared
    assert "pipeline_share" not in str(post.args["blocks"])  # no button in the channel

    # a button replayed by someone of another role is answered for that someone's rights
    team_value = value.replace('"t": false', '"t": true')
    refused = answer_text(session.click("pipeline_share", team_value, team.rep))
    assert "Only managers and admins may see the team's pipeline" in refused
    assert len(session.calls_since(mark, "chat.postMessage")) == 1


def test_upload_failure_falls_back_to_a_text_chart_and_an_unusable_channel_to_the_dm(
    session: Session, team: Team
) -> None:
    build_deals(team)
    fake = session.fake
    mark = session.mark()
    fake.fail_methods["files.getUploadURLExternal"] = "internal_error"
    try:
        text = answer_text(session.command("pipeline", team.rep))
    finally:
        del fake.fail_methods["files.getUploadURLExternal"]
    assert "The chart could not be uploaded (internal_error)" in text
    assert "```" in text and "Prospecting" in text and "█" in text
    assert "*Total* · 3 deals · K170,000.50 total · K35,000.25 weighted" in text  # numbers intact
    assert uploads_since(session, mark) == []

    def refuse_the_channel(call: Call) -> dict:
        if call.args.get("channel_id") == "C0GENERAL":
            return {"ok": False, "error": "not_in_channel"}
        return fake._default(call)

    mark = session.mark()
    fake.handlers["files.completeUploadExternal"] = refuse_the_channel
    try:
        text = answer_text(session.command("pipeline", team.rep))
    finally:
        del fake.handlers["files.completeUploadExternal"]
    assert "Chart sent to you as a direct message" in text
    (opened,) = session.calls_since(mark, "conversations.open")
    assert opened.args["users"] == team.rep.id
    completes = session.calls_since(mark, "files.completeUploadExternal")
    assert [c.args["channel_id"] for c in completes] == ["C0GENERAL", f"D{team.rep.id}"]
    assert all(u.body.startswith(PNG) for u in uploads_since(session, mark))
    wait_call(fake, lambda c: c.method == "upload")  # (recorded before the answer anyway)
    assert Member.select().where(Member.company == team.company.id).count() == 4
