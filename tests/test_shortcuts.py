"""Shortcuts end to end (SPEC 5.2) over real HTTP against the real web process, on both
backends: the global **New lead**, and the message shortcuts **Log to CRM** (the message, its
permalink and files become a communication), **Create lead from message** (name, email and
phone prefilled) and **Follow up on this** (a follow-up linked to the message)."""

from __future__ import annotations

import json

import pytest

from crm import leads, opportunities
from crm.models import Communication, FollowUp, Lead, Opportunity
from tests.e2e_support import SlackClient, SlackUserRef, site_fixture
from tests.surface_support import (
    Site,
    Team,
    buttons,
    closed,
    field_errors,
    make_team,
    opened_view,
    slack_client,
    submit,
    wait_calls,
)

pytestmark = pytest.mark.slow

site = site_fixture("S")
slack = slack_client
GET_PERMALINK = "https://acme.slack.com/archives/C0GENERAL/p1"  # FakeSlack's answer


@pytest.fixture
def team(site: Site) -> Team:
    return make_team(site, "S")


def message(text: str, author: SlackUserRef, ts: str = "1700000000.123456", **extra: object):
    return {"type": "message", "user": author.id, "ts": ts, "text": text, **extra}


def initial(view: dict, block_id: str) -> object:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == block_id]
    element = block["element"]
    return element.get("initial_value") or (element.get("initial_option") or {}).get("value")


def test_new_lead_global_shortcut_opens_the_form_and_the_receipt_comes_as_a_dm(
    slack: SlackClient, site: Site, team: Team
) -> None:
    assert slack.shortcut("new_lead", team.rep).status == 200
    view = opened_view(site.fake, team.rep)
    assert view["callback_id"] == "lead_modal" and json.loads(view["private_metadata"]) == {}
    closed(submit(slack, view, team.rep, {"name": "Global Gina"}))
    (lead,) = Lead.select().where(Lead.company == team.company)
    (dm,) = wait_calls(site.fake, "chat.postMessage", team.rep)
    assert dm.args["channel"] == team.rep.id and f"L{lead.id}" in dm.args["text"]
    assert buttons(dm.args["blocks"], "undo")
    assert not site.fake.calls_to("chat.postEphemeral")


def test_log_to_crm_stores_the_message_its_permalink_and_files(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Jane Doe")
    files = [{"id": "F0123ABCDE", "name": "quote.pdf"}, {"id": "F0999ZZZZZ", "name": "x.png"}]
    text = "Jane says <https://acme.io/q|the quote> is fine &amp; wants it by Friday"
    r = slack.shortcut("log_to_crm", team.rep, message(text, team.admin, files=files))
    assert r.status == 200
    view = opened_view(site.fake, team.rep)
    assert view["callback_id"] == "log_modal"
    assert initial(view, "content") == "Jane says the quote is fine & wants it by Friday"
    assert (initial(view, "type"), initial(view, "direction")) == ("message", "inbound")
    assert list(field_errors(submit(slack, view, team.rep, {"ref": "L99999"}))) == ["ref"]
    for _ in range(2):
        closed(submit(slack, view, team.rep, {"ref": f"L{lead.id}"}, view_id="VLOGMSG"))
    (comm,) = Communication.select().where(Communication.company == team.company)
    assert (comm.communicable_type, comm.communicable_id) == ("lead", lead.id)
    assert (comm.type, comm.direction) == ("message", "inbound")
    assert comm.content == "Jane says the quote is fine & wants it by Friday"
    assert comm.permalink == GET_PERMALINK
    assert comm.attachments == ["F0123ABCDE", "F0999ZZZZZ"]
    asked = site.fake.calls_to("chat.getPermalink")
    assert asked and all(
        (c.args["channel"], c.args["message_ts"]) == ("C0GENERAL", "1700000000.123456")
        for c in asked
    )
    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert receipt.args["channel"] == "C0GENERAL"


def test_log_to_crm_on_an_opportunity_builds_the_link_when_slack_will_not_say(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Deal maker")
    opp = opportunities.create_opportunity(
        team.actor(team.rep), name="Big one", lead_id=lead.id, amount=1000
    )
    site.fake.fail_methods["chat.getPermalink"] = "channel_not_found"
    try:
        slack.shortcut("log_to_crm", team.rep, message("my own note", team.rep, ts="1.000200"))
        view = opened_view(site.fake, team.rep)
        assert initial(view, "direction") == "outbound"  # the member wrote it
        closed(submit(slack, view, team.rep, {"ref": f"o{opp.id}", "type": "note"}))
    finally:
        site.fake.fail_methods.pop("chat.getPermalink", None)
    (comm,) = Communication.select().where(Communication.company == team.company)
    assert (comm.communicable_type, comm.type) == ("opportunity", "note")
    domain = team.team_id.lower()
    assert comm.permalink == f"https://{domain}.slack.com/archives/C0GENERAL/p1000200"
    # rule 6 reaches the lead behind the opportunity
    assert Opportunity.get_by_id(opp.id).last_contacted_at is not None
    assert Lead.get_by_id(lead.id).last_contacted_at is not None


def test_create_lead_from_message_prefills_name_email_and_phone(
    slack: SlackClient, site: Site, team: Team
) -> None:
    text = (
        "Met someone at the expo:\nName: Mary Banda\n"
        "<mailto:MARY@banda.co.zm|MARY@banda.co.zm>, <tel:0971234567|097 123 4567>"
    )
    slack.shortcut("lead_from_message", team.rep, message(text, team.admin))
    view = opened_view(site.fake, team.rep)
    assert view["callback_id"] == "lead_modal"
    assert (initial(view, "name"), initial(view, "email"), initial(view, "phone")) == (
        "Mary Banda",
        "mary@banda.co.zm",
        "+260971234567",
    )
    closed(submit(slack, view, team.rep, {"source": "event"}))
    (lead,) = Lead.select().where(Lead.company == team.company)
    assert (lead.name, lead.email, lead.phone, lead.source) == (
        "Mary Banda",
        "mary@banda.co.zm",
        "+260971234567",
        "event",
    )
    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert f"L{lead.id}" in receipt.args["text"]


def test_create_lead_from_a_message_without_details_says_so(
    slack: SlackClient, site: Site, team: Team
) -> None:
    slack.shortcut("lead_from_message", team.rep, message("ok, sounds good", team.admin))
    view = opened_view(site.fake, team.rep)
    assert "Nothing in the message" in view["blocks"][0]["elements"][0]["text"]
    assert initial(view, "name") is None
    assert list(field_errors(submit(slack, view, team.rep))) == ["name"]
    assert Lead.select().where(Lead.company == team.company).count() == 0


def test_follow_up_on_this_links_the_follow_up_to_the_message(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lead = leads.create_lead(team.actor(team.rep), name="Busy buyer")
    text = "Can you send the *revised* quote next week?\nThanks"
    slack.shortcut("follow_up_on_message", team.rep, message(text, team.admin))
    view = opened_view(site.fake, team.rep)
    assert view["callback_id"] == "followup_modal"
    assert initial(view, "title") == "Follow up: Can you send the *revised* quote next week?"
    assert initial(view, "due") == "tomorrow"
    errors = field_errors(submit(slack, view, team.rep, {"ref": f"F{lead.id}"}))
    assert "a follow-up; here it must be" in errors["ref"]
    closed(submit(slack, view, team.rep, {"ref": f"L{lead.id}", "priority": "high"}))
    (fu,) = FollowUp.select().where(FollowUp.company == team.company)
    assert (fu.followable_type, fu.followable_id, fu.priority) == ("lead", lead.id, "high")
    assert fu.title == "Follow up: Can you send the *revised* quote next week?"
    assert fu.permalink == GET_PERMALINK
    (receipt,) = wait_calls(site.fake, "chat.postEphemeral", team.rep)
    assert f"F{fu.id}" in receipt.args["text"]
