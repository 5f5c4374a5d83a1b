"""The four modals end to end (SPEC 5.2), over real HTTP against the real web process, on both
backends: ``/crm lead|opp|log|followup`` opens them, bad fields come back as
``response_action: errors`` on the right block and store nothing, a good submission stores
one record even when submitted twice, and the receipt with Undo reaches the member."""

from __future__ import annotations

import concurrent.futures
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm import leads
from crm.clock import utcnow
from crm.models import Communication, FollowUp, IdempotencyKey, Lead, Opportunity
from tests.e2e_support import SlackClient, site_fixture
from tests.surface_support import (
    Site,
    Team,
    buttons,
    calls_for,
    closed,
    field_errors,
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

site = site_fixture("M")
slack = slack_client


@pytest.fixture
def team(site: Site) -> Team:
    return make_team(site, "M")


def open_modal(slack: SlackClient, site: Site, text: str, team: Team, n: int = 1) -> dict:
    r = slack.command(text, team.rep)
    assert r.status == 200 and not r.body, r.text  # the form opens; nothing to say in chat
    return opened_view(site.fake, team.rep, n)


def test_bare_commands_open_their_modals(slack: SlackClient, site: Site, team: Team) -> None:
    expected = {
        "lead": ("lead_modal", {"name", "email", "phone", "value", "assign", "create_anyway"}),
        "opp": ("opportunity_modal", {"name", "ref", "amount", "stage", "prob", "close"}),
        "log": ("log_modal", {"ref", "type", "direction", "content", "duration", "at"}),
        "followup": ("followup_modal", {"ref", "title", "due", "priority", "assign"}),
    }
    for n, (noun, (callback_id, fields)) in enumerate(expected.items(), start=1):
        view = open_modal(slack, site, noun, team, n)
        assert view["callback_id"] == callback_id
        assert fields <= {b.get("block_id") for b in view["blocks"]}
        assigns = [b for b in view["blocks"] if b.get("block_id") == "assign"]
        assert all(b["element"]["initial_user"] == team.rep.id for b in assigns)
        assert view["private_metadata"] == '{"c":"C0GENERAL"}'


def test_new_lead_bad_fields_are_shown_on_the_field_and_nothing_is_stored(
    slack: SlackClient, site: Site, team: Team
) -> None:
    view = open_modal(slack, site, "lead", team)
    r = submit(slack, view, team.rep, {"name": "Jane Doe", "value": "12x"})
    assert field_errors(r) == {"value": '"12x" is not an amount; try 12000 or 12k'}
    r = submit(slack, view, team.rep, {"name": "Jane Doe", "prob": "140"})
    assert list(field_errors(r)) == ["prob"]
    r = submit(slack, view, team.rep, {"name": "Jane Doe", "email": "jane@"})
    assert "is not an email address" in field_errors(r)["email"]
    r = submit(slack, view, team.rep, {"name": "Jane Doe", "phone": "12"})
    assert list(field_errors(r)) == ["phone"]
    r = submit(slack, view, team.rep, {"name": "   "})
    assert list(field_errors(r)) == ["name"]
    r = submit(slack, view, team.rep, {"name": "Jane Doe", "email": "jane@", "phone": "12"})
    both = field_errors(r)  # every bad box at once, each with its own message
    assert set(both) == {"email", "phone"} and "phone" not in both["email"]
    assert Lead.select().where(Lead.company == team.company).count() == 0
    assert IdempotencyKey.select().where(IdempotencyKey.company == team.company).count() == 0


def test_new_lead_submitted_twice_creates_one_lead_and_one_receipt_with_undo(
    slack: SlackClient, site: Site, team: Team
) -> None:
    view = open_modal(slack, site, "lead", team)
    values = {
        "name": "Jane Doe",
        "email": "JANE@doe.io",
        "phone": "0971234567",
        "company": "Doe & Co",
        "source": "referral",
        "value": "50k",
        "prob": "40",
        "priority": "high",
    }
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: submit(slack, view, team.rep, values, view_id="VDOUBLE"), range(2))
        )
    for r in answers:
        closed(r)
    closed(submit(slack, view, team.rep, values, view_id="VDOUBLE"))  # a late Slack retry
    (lead,) = Lead.select().where(Lead.company == team.company)
    assert (lead.email, lead.phone, lead.company_name) == (
        "jane@doe.io",
        "+260971234567",
        "Doe & Co",
    )
    assert (lead.source, lead.estimated_value, lead.probability) == ("referral", Decimal(50000), 40)
    assert lead.priority == "high" and lead.assigned_to_id == team.member(team.rep).id

    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert receipt.args["channel"] == "C0GENERAL" and receipt.args["user"] == team.rep.id
    assert f"L{lead.id}" in receipt.args["text"]
    (undo,) = buttons(receipt.args["blocks"], "undo")
    home = published_home(site.fake, team.rep)  # refreshed after the change
    assert home["blocks"]

    r = slack.click("undo", undo["value"], team.rep, response_url=site.fake.response_url("mu1"))
    assert r.status == 200
    wait_until(site.fake, lambda cs: [c for c in cs if c.path == "/response/mu1"], "undo")
    assert Lead.get_or_none(Lead.id == lead.id) is None
    assert len(calls_for(site.fake, "chat.postEphemeral", team.rep)) == 1  # one receipt


def test_a_likely_duplicate_is_shown_on_its_field_until_create_anyway(
    slack: SlackClient, site: Site, team: Team
) -> None:
    existing = leads.create_lead(team.actor(team.rep), name="Jane Doe", email="jane@doe.io")
    view = open_modal(slack, site, "lead", team)
    values = {"name": "Janet Doe", "email": "Jane@Doe.io"}
    errors = field_errors(submit(slack, view, team.rep, values, view_id="VDUP"))
    assert list(errors) == ["email"] and f"L{existing.id}" in errors["email"]
    closed(submit(slack, view, team.rep, {**values, "create_anyway": True}, view_id="VDUP"))
    assert Lead.select().where(Lead.company == team.company).count() == 2


def test_new_opportunity_errors_then_created_once(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Acme buyer")
    view = open_modal(slack, site, "opp", team)
    good = {"name": "Acme renewal", "ref": f"L{lead.id}", "amount": "120k", "stage": "proposal"}
    assert list(field_errors(submit(slack, view, team.rep, {**good, "amount": "lots"}))) == [
        "amount"
    ]
    errors = field_errors(submit(slack, view, team.rep, {**good, "ref": "C999"}))
    assert errors == {"ref": "C999 not found"} or "not found" in errors["ref"]
    errors = field_errors(submit(slack, view, team.rep, {**good, "ref": "F3"}))
    assert "a follow-up" in errors["ref"]
    assert list(field_errors(submit(slack, view, team.rep, {**good, "prob": "2x"}))) == ["prob"]
    close = (date.today() + timedelta(days=30)).isoformat()
    for _ in range(2):
        closed(submit(slack, view, team.rep, {**good, "close": close}, view_id="VOPP"))
    (opp,) = Opportunity.select().where(Opportunity.company == team.company)
    assert (opp.lead_id, opp.amount, opp.stage, opp.probability) == (
        lead.id,
        Decimal(120000),
        "proposal",
        50,
    )
    assert str(opp.expected_close_date) == close
    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert f"O{opp.id}" in text_of(receipt.args["blocks"])


def test_log_communication_errors_then_logged_once(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Caller")
    view = open_modal(slack, site, "log", team)
    good = {"ref": f"l{lead.id}", "type": "meeting", "content": "Went through pricing"}
    assert list(field_errors(submit(slack, view, team.rep, {**good, "duration": "forever"}))) == [
        "duration"
    ]
    assert list(field_errors(submit(slack, view, team.rep, {**good, "at": "in 3 days"}))) == ["at"]
    assert list(field_errors(submit(slack, view, team.rep, {**good, "ref": "Q1"}))) == ["ref"]
    assert list(field_errors(submit(slack, view, team.rep, {**good, "content": None}))) == [
        "content"
    ]
    assert Communication.select().where(Communication.company == team.company).count() == 0
    for _ in range(2):
        closed(submit(slack, view, team.rep, {**good, "duration": "1h30m"}, view_id="VLOG"))
    (comm,) = Communication.select().where(Communication.company == team.company)
    assert (comm.type, comm.direction, comm.duration_minutes) == ("meeting", "outbound", 90)
    assert (comm.communicable_type, comm.communicable_id) == ("lead", lead.id)
    assert comm.permalink is None and comm.attachments == []
    assert Lead.get_by_id(lead.id).last_contacted_at is not None  # rule 6
    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert f"Logged on L{lead.id}" in receipt.args["text"]


def test_new_follow_up_errors_then_saved_once_and_receipt_falls_back_to_a_dm(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Later")
    view = open_modal(slack, site, "followup", team)
    good = {"ref": f"L{lead.id}", "title": "Send the quote", "due": "tomorrow 10am"}
    errors = field_errors(submit(slack, view, team.rep, {**good, "due": "someday"}))
    assert list(errors) == ["due"] and "try" in errors["due"]
    assert list(field_errors(submit(slack, view, team.rep, {**good, "title": None}))) == ["title"]
    site.fake.fail_methods["chat.postEphemeral"] = "channel_not_found"  # e.g. a private DM
    try:
        for _ in range(2):
            closed(submit(slack, view, team.rep, good, view_id="VFU"))
        (dm,) = wait_calls(site.fake, "chat.postMessage", team.rep)
    finally:
        site.fake.fail_methods.pop("chat.postEphemeral", None)
    (fu,) = FollowUp.select().where(FollowUp.company == team.company)
    assert (fu.followable_type, fu.followable_id, fu.title) == ("lead", lead.id, "Send the quote")
    assert fu.assigned_to_id == team.member(team.rep).id and fu.permalink is None
    assert fu.due_at > utcnow() and fu.due_at.minute == 0  # 10:00 in the rep's zone
    assert dm.args["channel"] == team.rep.id and buttons(dm.args["blocks"], "undo")
