"""The campaign service layer (SPEC 6) on both databases: validation, audience, state moves,
tracking, opt-outs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from crm import customers
from crm.campaigns import audience, service, tokens, tracking
from crm.config import Settings
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.models import (
    AuditLog,
    Campaign,
    CampaignEvent,
    CampaignOptOut,
    CampaignRecipient,
    Customer,
)
from tests.campaign_support import channel_settings, make_audience
from tests.conftest import settings_in_use

NOW = datetime(2026, 3, 10, 10, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def aud(acme, clock):
    with channel_settings():
        yield make_audience(acme, 5)


def _email(aud, **extra):
    fields = {
        "name": "Spring offer",
        "channel": "email",
        "segment_id": aud.segment.id,
        "subject": "Hello {{ first_name }}",
        "body": "Dear {{ name }},\nsee https://shop.acme.test/spring and https://acme.test.\n",
        "budget": "1000",
    }
    return service.create_campaign(aud.ws.actor(aud.ws.manager), **(fields | extra))


def test_create_and_preview_renders_for_a_real_recipient(aud):
    Customer.update(name="<b>Bold</b> Banda").where(Customer.id == aud.people[0].id).execute()
    campaign = _email(aud, cost="600")
    assert campaign.status == "draft"
    assert campaign.links == ["https://shop.acme.test/spring", "https://acme.test"]
    p = service.preview(aud.ws.actor(aud.ws.rep), f"M{campaign.id}")
    # 6 retail customers: one has no email address
    assert (p.audience, p.skipped) == (5, 1)
    assert p.cost_per_message == Decimal("120.00")
    assert p.customer is not None and p.customer.id == aud.people[0].id
    assert p.subject == "Hello <b>Bold</b>"
    assert "Dear <b>Bold</b> Banda" in p.text
    assert "https://crm.acme.test/t/c/preview/1" in p.text
    assert "&lt;b&gt;Bold&lt;/b&gt; Banda" in p.html and "<b>Bold" not in p.html
    assert '<a href="https://crm.acme.test/t/c/preview/2">https://acme.test</a>' in p.html
    assert "https://shop.acme.test/spring" not in p.text  # every link is tracked
    assert AuditLog.select().where(AuditLog.entity_type == "campaign").count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"body": "Hi {{ nickname }}"}, "body", "unknown field {{ nickname }}"),
        ({"subject": "Hi {{ name "}, "subject", "syntax error on line 1"),
        ({"body": "{% for x in %}"}, "body", "syntax error"),
        ({"body": "{{ name.__class__.__mro__ }}"}, "body", "template error"),
        ({"budget": "-5"}, "budget", "negative"),
        ({"cost": "-1"}, "cost", "negative"),
        ({"scheduled_at": "2026-03-09 10:00"}, "schedule", "is in the past"),
        ({"channel": "fax"}, "channel", "fax"),
        ({"attribution_days": "0"}, "attribution_days", ""),
        ({"goal_type": "revenue"}, "goal", "both"),
        ({"segment_id": None}, "audience", "segment or a list"),
        ({"channel": "social", "target_channel": "http://hooks.example.com/x"}, "target", "https"),
        ({"channel": "social", "target_channel": "https://127.0.0.1/hook"}, "target", "public"),
        ({"channel": "social", "target_channel": "https://10.1.2.3/hook"}, "target", "public"),
        ({"channel": "social", "target_channel": "https://localhost/hook"}, "target", "local"),
        ({"channel": "social", "target_channel": "https://[::1]/hook"}, "target", "public"),
        ({"channel": "social", "target_channel": "nonsense"}, "target", "neither"),
        ({"channel": "event"}, "event_at", "needs its time"),
    ],
)
def test_bad_input_is_refused_naming_the_field(aud, fields, field, words):
    with pytest.raises(ValidationError) as err:
        _email(aud, **fields)
    assert err.value.field == field
    assert words in err.value.message
    assert Campaign.select().count() == 0


def test_empty_audience_is_refused(aud):
    actor = aud.ws.actor(aud.ws.admin)
    from crm.segments import create_segment

    nobody = create_segment(actor, name="nobody", criteria={"industry": "fishing"})
    with pytest.raises(ValidationError) as err:
        _email(aud, segment_id=nobody.id)
    assert err.value.field == "audience" and "empty audience" in err.value.message
    for person in aud.people:  # all opted out: still empty, and said why
        customers.unsubscribe(actor, person.id, "email")
    with pytest.raises(ValidationError) as err:
        _email(aud)
    assert "opted out or have no address" in err.value.message


def test_channels_need_their_gateway_configured(aud):
    with settings_in_use(Settings(public_url="https://crm.acme.test")):
        with pytest.raises(ValidationError) as err:
            _email(aud)
        assert err.value.field == "channel" and "SMTP_URL" in err.value.message
        with pytest.raises(ValidationError) as err:
            _email(aud, channel="sms")
        assert err.value.field == "channel" and "SMS_API_URL" in err.value.message
    with settings_in_use(Settings(smtp_url="smtp://127.0.0.1:25")):
        with pytest.raises(ValidationError) as err:
            _email(aud)
        assert "MAIL_FROM" in err.value.message


def test_reps_see_campaigns_but_only_managers_run_them(aud):
    with pytest.raises(PermissionDenied, match="managers"):
        _email(aud) if False else service.create_campaign(
            aud.ws.actor(aud.ws.rep), name="x", segment_id=aud.segment.id, body="hi", subject="s"
        )
    campaign = _email(aud)
    assert service.get_campaign(aud.ws.actor(aud.ws.rep), campaign.id).id == campaign.id
    with pytest.raises(PermissionDenied):
        service.send_now(aud.ws.actor(aud.ws.rep), campaign.id)


def test_other_workspaces_cannot_see_or_target(aud, globex):
    campaign = _email(aud)
    with pytest.raises(NotFound):
        service.get_campaign(globex.actor(globex.admin), campaign.id)
    with pytest.raises(NotFound):
        service.create_campaign(
            globex.actor(globex.admin), name="x", segment_id=aud.segment.id, body="b", subject="s"
        )
    with pytest.raises(NotFound):
        service.create_campaign(
            globex.actor(globex.admin),
            name="x",
            customer_ids=[aud.people[0].id],
            body="b",
            subject="s",
        )


def test_send_now_materialises_the_audience_once(aud):
    actor = aud.ws.actor(aud.ws.manager)
    customers.unsubscribe(aud.ws.actor(aud.ws.admin), aud.people[1].id, "email")
    campaign = service.send_now(actor, _email(aud).id)
    assert campaign.status == "sending" and campaign.started_at == NOW
    rows = list(CampaignRecipient.select().order_by(CampaignRecipient.id))
    assert len(rows) == 6 and campaign.audience_count == 6 and campaign.skipped_count == 2
    skipped = {r.customer_id: r.error for r in rows if r.status == "skipped"}
    assert skipped[aud.people[1].id] == "unsubscribed from email"
    assert "no email address" in skipped.values()
    assert all(re.fullmatch(r"[0-9a-f]{32}", r.token) for r in rows)
    assert len({r.token for r in rows}) == 6
    again = audience.materialise(campaign)  # a repeated start adds nothing
    assert (again.total, again.skipped) == (6, 2)
    assert CampaignRecipient.select().count() == 6
    with pytest.raises(Conflict, match="sending"):
        service.send_now(actor, campaign.id)


def test_custom_list_and_refs(aud):
    ids = ",".join(f"C{p.id}" for p in aud.people[:2])
    campaign = _email(aud, segment_id=None, customer_ids=ids)
    assert campaign.customer_ids == [p.id for p in aud.people[:2]]
    assert service.preview(aud.ws.actor(), campaign.id).audience == 2


def test_pause_resume_cancel_and_the_kill_switch(aud, clock):
    mgr = aud.ws.actor(aud.ws.manager)
    sending = service.send_now(mgr, _email(aud).id)
    scheduled = _email(aud, name="Later", scheduled_at="2026-03-11 09:00")
    draft = _email(aud, name="Draft")
    assert scheduled.status == "scheduled"
    paused = service.pause(mgr, sending.id)
    assert paused.status == "paused" and "paused by" in paused.paused_reason
    with pytest.raises(Conflict):
        service.pause(mgr, sending.id)
    resumed = service.resume(mgr, sending.id)
    assert resumed.status == "sending" and resumed.paused_reason is None
    with pytest.raises(PermissionDenied):
        service.pause_all(mgr)  # the kill switch is the admins'
    stopped = service.pause_all(aud.ws.actor(aud.ws.admin))
    assert {c.id for c in stopped} == {sending.id, scheduled.id}
    assert all("kill switch" in c.paused_reason for c in stopped)
    assert Campaign.get_by_id(draft.id).status == "draft"
    # a campaign paused before its time goes back to waiting for it
    assert service.resume(mgr, scheduled.id).status == "scheduled"
    cancelled = service.cancel(mgr, sending.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict, match="cancelled"):
        service.resume(mgr, sending.id)


def test_scheduled_campaigns_start_once_when_due(aud, clock):
    campaign = _email(aud, scheduled_at="2026-03-10 13:00")  # member's zone: Africa/Lusaka
    assert campaign.scheduled_at == datetime(2026, 3, 10, 11, 0)
    assert service.start_due() == []
    clock.move_to(datetime(2026, 3, 10, 11, 0, tzinfo=UTC))
    assert service.start_due() == [campaign.id]
    assert service.start_due() == []  # a second scheduler finds nothing left to start
    fresh = Campaign.get_by_id(campaign.id)
    assert fresh.status == "sending" and fresh.audience_count == 6


def test_schedule_and_update(aud):
    mgr = aud.ws.actor(aud.ws.manager)
    campaign = _email(aud)
    with pytest.raises(ValidationError, match="schedule: is in the past"):
        service.schedule(mgr, campaign.id, "2026-03-01")
    assert service.schedule(mgr, campaign.id, "tomorrow 9am").status == "scheduled"
    changed = service.update_campaign(mgr, campaign.id, body="New {{ company }} https://x.test/a")
    assert changed.links == ["https://x.test/a"]
    service.send_now(mgr, campaign.id)
    with pytest.raises(Conflict):
        service.update_campaign(mgr, campaign.id, name="late")


def _recipient(campaign, customer):
    return CampaignRecipient.get(
        (CampaignRecipient.campaign == campaign.id) & (CampaignRecipient.customer == customer.id)
    )


def test_tracking_counts_each_recipient_once_and_keeps_every_event(aud, clock):
    campaign = service.send_now(aud.ws.actor(aud.ws.manager), _email(aud).id)
    r = _recipient(campaign, aud.people[0])
    public = tokens.sign(r.token)
    assert r.token not in public or public != r.token
    tracking.record_open(public)
    tracking.record_open(public)
    assert tracking.click(public, 2) == "https://acme.test"
    with pytest.raises(NotFound):
        tracking.click(public, 3)  # not a link of this campaign: nothing to redirect to
    with pytest.raises(NotFound):
        tracking.click(public, 0)
    with pytest.raises(NotFound):
        tracking.record_open(public[:-2] + "xx")  # a bent signature
    with pytest.raises(NotFound):
        tracking.record_open(tokens.sign("0" * 32))  # signed, but nobody's
    f = service.figures(campaign)
    assert (f.opened, f.clicked) == (1, 1)
    assert CampaignEvent.select().where(CampaignEvent.kind == "open").count() == 2
    assert CampaignEvent.select().where(CampaignEvent.kind == "click").count() == 1


def test_unsubscribe_is_honoured_by_later_campaigns(aud, clock):
    first = service.send_now(aud.ws.actor(aud.ws.manager), _email(aud).id)
    public = tokens.sign(_recipient(first, aud.people[2]).token)
    tracking.unsubscribe(public, one_click=True)
    tracking.unsubscribe(public)  # again: nothing changes
    optout = CampaignOptOut.get()
    assert (optout.channel, optout.source, optout.campaign_id) == ("email", "one_click", first.id)
    assert optout.occurred_at == NOW
    assert Customer.get_by_id(aud.people[2].id).unsubscribed == ["email"]
    assert service.figures(first).unsubscribed == 1
    later = service.send_now(aud.ws.actor(aud.ws.manager), _email(aud, name="Later").id)
    assert later.skipped_count == 2  # the one without an address, and the one who left
    assert _recipient(later, aud.people[2]).status == "skipped"
    sms = service.create_campaign(
        aud.ws.actor(), name="SMS", channel="sms", segment_id=aud.segment.id, body="Hi"
    )
    assert service.preview(aud.ws.actor(), sms.id).skipped == 0  # opted out of email only


def test_unsubscribe_from_slack_records_time_and_source(aud):
    customers.unsubscribe(aud.ws.actor(aud.ws.rep), aud.people[0].id, "sms")
    row = CampaignOptOut.get()
    assert (row.channel, row.source, row.occurred_at) == ("sms", "slack", NOW)


def test_rsvp(aud, clock):
    event = service.create_campaign(
        aud.ws.actor(),
        name="Launch",
        channel="event",
        segment_id=aud.segment.id,
        subject="Join us",
        body="Come {{ first_name }}",
        event_at="2026-03-20 18:00",
        event_location="Lusaka",
    )
    service.send_now(aud.ws.actor(), event.id)
    public = tokens.sign(_recipient(event, aud.people[0]).token)
    tracking.rsvp(public, "maybe")
    tracking.rsvp(public, "YES")
    with pytest.raises(ValidationError, match="answer"):
        tracking.rsvp(public, "perhaps")
    assert tracking.rsvp_counts(event) == {"yes": 1, "no": 0, "maybe": 0}
    assert CampaignEvent.select().where(CampaignEvent.kind == "rsvp").count() == 2


def test_social_campaign_keeps_its_webhook_encrypted(aud):
    campaign = service.create_campaign(
        aud.ws.actor(),
        name="Post",
        channel="social",
        body="New stock https://acme.test/new",
        target_channel="https://hooks.slack.com/services/T1/B2/xyz",
    )
    stored = Campaign.get_by_id(campaign.id).target_channel
    assert "hooks.slack.com" not in stored
    assert service.social_target(campaign) == "https://hooks.slack.com/services/T1/B2/xyz"
    channel = service.create_campaign(
        aud.ws.actor(),
        name="Post 2",
        channel="social",
        body="x",
        target_channel="<#C0123ABCD|news>",
    )
    assert channel.target_channel == "C0123ABCD"


def test_roi_and_goal_figures(aud):
    campaign = _email(aud, cost="2000", goal_type="revenue", goal_value="10000")
    Campaign.update(attributed_revenue=Decimal("5000"), converted_count=2).where(
        Campaign.id == campaign.id
    ).execute()
    f = service.figures(campaign)
    assert f.roi == Decimal("150.00")  # (5000 - 2000) / 2000 * 100
    assert f.goal_progress == Decimal("50.0")
    assert service.roi(Decimal(0), None) is None
    assert service.roi(Decimal(500), Decimal(1000)) == Decimal("-50.00")  # budget, no cost
