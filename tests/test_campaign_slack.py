"""Campaigns from Slack over signed HTTP against the web process (SPEC 6): the New campaign
modal and its per-field refusals, the card and its buttons (Preview, Send now, Schedule,
Pause, Resume, Cancel), the matching commands and the admins' kill switch, the roles, the
type-ahead of the modal's segment and customer fields; then Dramatiq workers on Redis send
the campaign to an SMTP sink while the live card is updated in place and the creator gets
the finish report; the weekly digest lists the campaign."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.blocks.campaigns import (
    CAMPAIGN_VIEW,
    CANCEL_ACTION,
    PAUSE_ACTION,
    PREVIEW_ACTION,
    RESUME_ACTION,
    SCHEDULE_ACTION,
    SCHEDULE_VIEW,
    SEND_ACTION,
)
from bot.blocks.followups import weekly_digest_blocks
from crm import customers, digests
from crm.campaigns import cards, service
from crm.clock import utcnow
from crm.config import load_settings
from crm.models import Campaign, CustomerSegment
from crm.segments import create_segment
from tests import workers_support
from tests.campaign_support import channel_settings
from tests.conftest import TEST_SECRET_KEY
from tests.e2e_support import SIGNING_SECRET, Site, SlackClient, site_fixture
from tests.mail_support import SmtpSink
from tests.surface_support import (
    Team,
    buttons,
    calls_for,
    closed,
    field_errors,
    make_team,
    opened_view,
    slack_client,
    submit,
    wait_calls,
    wait_until,
)
from tests.workers_support import BOT_TOKEN, REDIS_URL, start_workers
from workers.campaigns import scan_campaigns

__all__ = ["site", "slack_client"]
redis_namespace = workers_support.redis_namespace

SMTP_PORT_ENV = {
    "CRM_SECRET_KEY": TEST_SECRET_KEY,
    "SMTP_URL": "smtp://127.0.0.1:9",  # the web process only checks that email is configured
    "MAIL_FROM": "Acme <news@acme.test>",
}
site = site_fixture("campslack", private=True, extra_env=SMTP_PORT_ENV)


@dataclasses.dataclass
class Shop:
    team: Team
    segment: CustomerSegment
    people: list[Any]


@pytest.fixture
def shop(site: Site) -> Iterator[Shop]:
    team = make_team(site, "CS")
    actor = team.actor(team.admin)
    with channel_settings(load_settings(SMTP_PORT_ENV | {"PUBLIC_URL": site.web.url})):
        people = [
            customers.create_customer(
                actor,
                name=f"Retail Buyer {i}",
                email=f"buyer{i}@{team.team_id.lower()}.test",
                industry="retail",
                allow_duplicate=True,
            )
            for i in range(6)
        ]
        segment = create_segment(actor, name="Retail buyers", criteria={"industry": "retail"})
        yield Shop(team, segment, people)


def _new_campaign(slack: SlackClient, site: Site, shop: Shop, **values: Any) -> dict[str, Any]:
    user = shop.team.manager
    assert slack.command("campaign", user).status == 200
    view = opened_view(site.fake, user, len(wait_calls(site.fake, "views.open", user)))
    assert view["callback_id"] == CAMPAIGN_VIEW
    fields = {
        "name": "Spring offer",
        "segment": f"S{shop.segment.id}",
        "subject": "Spring for {{ first_name }}",
        "body": "Dear {{ name }}, see https://shop.acme.test/spring",
        "budget": "600",
    } | values
    return {"view": view, "response": submit(slack, view, user, fields)}


def _campaign(shop: Shop, name: str = "Spring offer") -> Campaign:
    return Campaign.get((Campaign.company == shop.team.company.id) & (Campaign.name == name))


def _answer_blocks(r: Any) -> list[dict[str, Any]]:
    assert r.status == 200 and r.via == "response_url", r.text
    return r.json()["blocks"]


def _response_to(site: Site, path_prefix: str, count: int = 1) -> dict[str, Any]:
    def found(calls: list[Any]) -> list[Any]:
        answers = [
            c for c in calls if c.method == "response_url" and c.path.startswith(path_prefix)
        ]
        return answers[count - 1 :]

    return wait_until(site.fake, found, f"an answer at {path_prefix}")[0].args


def test_the_modal_refuses_bad_fields_under_each_field_and_saves_a_good_one(
    site: Site, shop: Shop, slack_client: SlackClient
) -> None:
    bad = {
        "subject": ("Hi {{ nickname }}", "nickname"),
        "body": ("Hello {% if %}", "syntax error"),
        "schedule": ("2020-01-01 09:00", "past"),
        "budget": ("-5", "negative"),
        "target": ("http://127.0.0.1/hook", "https"),
    }
    for block, (value, words) in bad.items():
        extra = {"channel": "social"} if block == "target" else {}
        errors = field_errors(
            _new_campaign(slack_client, site, shop, **{block: value}, **extra)["response"]
        )
        assert block in errors, (block, errors)
        assert words.lower() in errors[block].lower(), (block, errors)
    nobody = create_segment(
        shop.team.actor(shop.team.admin), name="Fishers", criteria={"industry": "fishing"}
    )
    errors = field_errors(
        _new_campaign(slack_client, site, shop, segment=f"S{nobody.id}")["response"]
    )
    assert "empty audience" in errors["segment"]
    assert Campaign.select().where(Campaign.company == shop.team.company.id).count() == 0
    closed(_new_campaign(slack_client, site, shop)["response"])
    campaign = _campaign(shop)
    assert (campaign.status, campaign.segment_id, campaign.budget) == (
        "draft",
        shop.segment.id,
        600,
    )
    receipt = wait_calls(site.fake, "chat.postEphemeral", shop.team.manager)[-1].args
    assert f"M{campaign.id}" in receipt["text"]


def test_the_card_preview_send_now_and_the_live_card_with_the_finish_report(
    site: Site, shop: Shop, slack_client: SlackClient, redis_namespace: str
) -> None:
    closed(_new_campaign(slack_client, site, shop)["response"])
    campaign = _campaign(shop)
    ref = f"M{campaign.id}"
    manager = shop.team.manager
    card = _answer_blocks(slack_client.command(f"campaign {ref}", manager))
    assert buttons(card, SEND_ACTION) and buttons(card, SCHEDULE_ACTION)
    assert "Audience" in str(card) and "ROI" in str(card)

    slack_client.click(PREVIEW_ACTION, ref, manager, response_url=site.fake.response_url("pv1"))
    preview = _response_to(site, "/response/pv1")
    text = str(preview["blocks"])
    assert "Rendered for" in text and "Retail Buyer 0" in text and "Reaches *6*" in text
    assert "per message" in text  # 600 over 6

    slack_client.click(SEND_ACTION, ref, manager, response_url=site.fake.response_url("sn1"))
    answer = _response_to(site, "/response/sn1")
    assert answer["replace_original"] is True and "Sending" in str(answer["blocks"])
    live = wait_until(
        site.fake,
        lambda calls: [
            c
            for c in calls
            if c.method == "chat.postMessage" and c.args.get("channel") == manager.id
        ],
        "the live card",
    )[0]
    assert _campaign(shop).status == "sending"

    sink = SmtpSink().start()
    env = {
        "DATABASE_URL": site.web.env["DATABASE_URL"],
        "REDIS_URL": REDIS_URL,
        "CRM_REDIS_NAMESPACE": redis_namespace,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": site.fake.api_url,
        "CRM_SECRET_KEY": TEST_SECRET_KEY,
        "SMTP_URL": sink.url,
        "MAIL_FROM": "news@acme.test",
        "PUBLIC_URL": site.web.url,
    }
    w = start_workers(load_settings(env), threads=2)
    try:
        scan_campaigns.send()
        wait_until(site.fake, lambda calls: _campaign(shop).status == "sent", "the send", 60)
        w.drain(30)
    finally:
        w.stop()
        w.broker.close()
        sink.stop()
    assert len(sink.snapshot()) == 6
    stored = _campaign(shop)
    assert stored.card_channel == live.args["channel"]  # the DM message the card went to
    updated = [c.args for c in site.fake.calls_to("chat.update") if c.args["ts"] == stored.card_ts]
    assert updated, "the live card was never updated in place"
    assert all(u["channel"] == stored.card_channel for u in updated)
    final = str(updated[-1]["blocks"])
    assert ":white_check_mark: Sent" in final and "6/6" in final
    report = wait_until(
        site.fake,
        lambda calls: [
            c
            for c in calls
            if c.method == "chat.postMessage"
            and c.args.get("channel") == "D" + manager.id
            and "has finished" in c.args.get("text", "")
        ],
        "the finish report",
    )
    assert len(report) == 1 and "6 sent" in report[0].args["text"]


def test_commands_schedule_pause_resume_cancel_and_the_kill_switch(
    site: Site, shop: Shop, slack_client: SlackClient
) -> None:
    closed(_new_campaign(slack_client, site, shop)["response"])
    closed(_new_campaign(slack_client, site, shop, name="Second")["response"])
    first, second = _campaign(shop), _campaign(shop, "Second")
    manager, admin = shop.team.manager, shop.team.admin
    a = slack_client.command(f'campaign schedule M{first.id} at="tomorrow 9am"', manager)
    assert "Scheduled" in a.text and _campaign(shop).status == "scheduled"
    assert "Paused" in slack_client.command(f"campaign pause M{first.id}", manager).text
    assert _campaign(shop).status == "paused"
    assert "Resumed" in slack_client.command(f"campaign resume M{first.id}", manager).text
    assert _campaign(shop).status == "scheduled"  # not started yet: back to its schedule
    assert "Cancelled" in slack_client.command(f"campaign cancel M{first.id}", manager).text
    assert _campaign(shop).status == "cancelled"
    with channel_settings(load_settings(SMTP_PORT_ENV)):
        service.send_now(shop.team.actor(manager), second.id)  # sending, no workers here
    answer = slack_client.command("campaign pause all", admin)
    assert f"M{second.id}" in answer.text and "1 campaign(s) paused" in answer.text
    stopped = _campaign(shop, "Second")
    assert stopped.status == "paused" and "kill switch" in stopped.paused_reason
    refused = slack_client.command("campaign pause all", manager).text
    assert "Only admins may change company settings; your role is manager" in refused
    listing = slack_client.command("campaign list", manager).text
    assert f"M{first.id}" in listing and f"M{second.id}" in listing


def test_buttons_pause_resume_cancel_and_the_schedule_form(
    site: Site, shop: Shop, slack_client: SlackClient
) -> None:
    closed(_new_campaign(slack_client, site, shop)["response"])
    campaign = _campaign(shop)
    ref, manager = f"M{campaign.id}", shop.team.manager
    opened = len(calls_for(site.fake, "views.open", manager))
    slack_client.click(SCHEDULE_ACTION, ref, manager)
    view = opened_view(site.fake, manager, opened + 1)
    assert view["callback_id"] == SCHEDULE_VIEW
    errors = field_errors(submit(slack_client, view, manager, {"schedule": "yesterday"}))
    assert "past" in errors["schedule"]
    closed(submit(slack_client, view, manager, {"schedule": "in 3 days"}))
    moved = _campaign(shop)
    assert moved.status == "scheduled" and moved.scheduled_at > utcnow() + timedelta(days=2)
    for action, status, n in (
        (PAUSE_ACTION, "paused", 1),
        (RESUME_ACTION, "scheduled", 2),
        (CANCEL_ACTION, "cancelled", 3),
    ):
        slack_client.click(action, ref, manager, response_url=site.fake.response_url(f"b{n}"))
        answer = _response_to(site, f"/response/b{n}")
        assert answer["replace_original"] is True
        assert _campaign(shop).status == status, action
    assert not buttons(answer["blocks"], SEND_ACTION)  # a cancelled campaign offers no sending


def test_reps_see_the_card_without_controls_and_are_refused_with_their_role(
    site: Site, shop: Shop, slack_client: SlackClient
) -> None:
    closed(_new_campaign(slack_client, site, shop)["response"])
    ref, rep = f"M{_campaign(shop).id}", shop.team.rep
    card = _answer_blocks(slack_client.command(f"campaign {ref}", rep))
    assert buttons(card, PREVIEW_ACTION) and not buttons(card, SEND_ACTION)
    refused = slack_client.command(f"campaign send {ref}", rep).text
    assert "Only managers and admins may manage campaigns; your role is rep" in refused
    assert "your role is rep" in slack_client.command("campaign", rep).text
    slack_client.click(SEND_ACTION, ref, rep, response_url=site.fake.response_url("rep1"))
    assert "your role is rep" in str(_response_to(site, "/response/rep1"))
    assert _campaign(shop).status == "draft"


def test_the_modals_type_ahead_offers_the_workspaces_own_segments_and_customers(
    site: Site, shop: Shop, slack_client: SlackClient
) -> None:
    other = make_team(site, "CX")
    create_segment(
        other.actor(other.admin), name="Retail elsewhere", criteria={"industry": "retail"}
    )
    view = _new_campaign(slack_client, site, shop)["view"]
    segment_field = next(b for b in view["blocks"] if b.get("block_id") == "segment")["element"]
    customers_field = next(b for b in view["blocks"] if b.get("block_id") == "customers")["element"]
    assert customers_field["type"] == "multi_external_select"
    r = slack_client.suggest(
        segment_field["action_id"], "reta", shop.team.manager, block_id="segment"
    )
    options = [o["value"] for o in r.json()["options"]]
    assert options == [f"S{shop.segment.id}"]  # not the other workspace's "Retail elsewhere"
    r = slack_client.suggest(
        customers_field["action_id"], "Buyer 3", shop.team.manager, block_id="customers"
    )
    values = [o["value"] for o in r.json()["options"]]
    assert values[0] == f"C{shop.people[3].id}"
    # a campaign to customers picked one by one
    closed(
        _new_campaign(
            slack_client,
            site,
            shop,
            name="Picked",
            segment=None,
            customers=[f"C{shop.people[1].id}", f"C{shop.people[2].id}"],
        )["response"]
    )
    picked = _campaign(shop, "Picked")
    assert picked.customer_ids == [shop.people[1].id, shop.people[2].id]


def test_the_weekly_digest_lists_last_weeks_campaigns(site: Site, shop: Shop) -> None:
    actor = shop.team.actor(shop.team.manager)
    with channel_settings(load_settings(SMTP_PORT_ENV)):
        campaign = service.create_campaign(
            actor, name="Digest news", channel="email", segment_id=shop.segment.id,
            subject="Hi", body="Hello",
        )  # fmt: skip
        service.send_now(actor, campaign.id)
    digest = digests.weekly_digest(shop.team.company.id, utcnow() + timedelta(hours=1))
    assert [c.id for c in digest.campaigns] == [campaign.id]
    text = str(weekly_digest_blocks(digest))
    assert "Campaigns last week" in text and f"M{campaign.id} Digest news" in text


def test_a_live_card_is_redrawn_at_most_every_5_seconds_and_reported_once(
    site: Site, shop: Shop
) -> None:
    actor = shop.team.actor(shop.team.manager)
    with channel_settings(load_settings(SMTP_PORT_ENV)):
        campaign = service.create_campaign(
            actor, name="Paced", channel="email", segment_id=shop.segment.id,
            subject="Hi", body="Hello",
        )  # fmt: skip
    assert cards.claim_refresh(campaign.id, final=True) is None  # no card posted yet
    cards.attach(actor, campaign.id, "D0CARD", "1700000000.000100")
    t0 = Campaign.get_by_id(campaign.id).card_updated_at
    assert cards.claim_refresh(campaign.id, final=False, now=t0 + timedelta(seconds=4)) is None
    won = cards.claim_refresh(campaign.id, final=False, now=t0 + timedelta(seconds=5))
    assert won is not None and (won.channel, won.ts) == ("D0CARD", "1700000000.000100")
    assert cards.claim_refresh(campaign.id, final=False, now=t0 + timedelta(seconds=6)) is None
    assert cards.claim_refresh(campaign.id, final=True, now=t0 + timedelta(seconds=6)) is not None
    assert cards.claim_report(campaign.id) is None  # not finished: nothing to report
    Campaign.update(status="sent").where(Campaign.id == campaign.id).execute()
    reported = cards.claim_report(campaign.id)
    assert reported is not None and reported[1] == shop.team.manager.id
    assert cards.claim_report(campaign.id) is None  # once
