"""Dispatch (SPEC 6 "Sending semantics" and "Limits") against a real SMTP sink and an HTTP SMS
stand-in, on both databases: batches, exactly once, resend after a crash, retries, self-pause,
pause within one batch."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from crm.campaigns import dispatch, service, tokens
from crm.clock import utcnow
from crm.models import Campaign, CampaignRecipient
from tests.campaign_support import CHANNEL_SETTINGS, channel_settings, make_audience
from tests.mail_support import SmsStandIn, SmtpSink, free_port


@pytest.fixture
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def _cfg(**extra):
    return dataclasses.replace(CHANNEL_SETTINGS, campaign_batch=4, **extra)


def _start(ws, cfg, n=10, **fields):
    with channel_settings(cfg):
        aud = make_audience(ws, n)
        defaults = {
            "name": "Offer",
            "channel": "email",
            "segment_id": aud.segment.id,
            "subject": "Hi {{ first_name }}",
            "body": "Dear {{ name }} <3, see https://shop.acme.test/x",
        }
        campaign = service.create_campaign(ws.actor(ws.manager), **(defaults | fields))
        return aud, service.send_now(ws.actor(ws.manager), campaign.id)


def test_email_goes_out_once_each_with_its_headers(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    aud, campaign = _start(acme, cfg)
    outcome = dispatch.run(campaign.id, cfg, sleep=lambda s: None)
    assert (outcome.state, outcome.sent, outcome.finished) == ("done", 10, True)
    assert sorted(sink.per_recipient().values()) == [1] * 10
    f = service.figures(campaign)
    assert (f.status, f.sent, f.failed, f.skipped, f.resent) == ("sent", 10, 0, 1, 0)
    m = next(x for x in sink.snapshot() if "c0@" in str(x["To"]))
    r = CampaignRecipient.get(CampaignRecipient.customer == aud.people[0].id)
    assert m["Message-ID"] == f"<{r.token}@acme.test>"
    public = tokens.sign(r.token)
    assert m["List-Unsubscribe"] == f"<https://crm.acme.test/t/u/{public}>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    assert "Dear Customer 000 <3" in text and f"/t/c/{public}/1" in text
    assert (
        "Dear Customer 000 &lt;3" in html and f'href="https://crm.acme.test/t/c/{public}/1"' in html
    )
    assert f"/t/o/{public}.gif" in html
    # nothing left: another run sends nothing
    assert dispatch.run(campaign.id, cfg).state == "stopped"
    assert len(sink.snapshot()) == 10


def test_a_batch_left_by_a_dead_worker_is_resent_with_the_same_message_id(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(acme, cfg, n=6)
    # a worker claimed 4, sent them, and died before recording
    batch = dispatch.claim(campaign.id, 4, cfg.campaign_lease)
    sender = dispatch._Sender(Campaign.get_by_id(campaign.id), cfg, "Acme")
    assert dispatch._send_batch(sender, batch, lambda: None, lambda s: None) is None
    assert len(sink.snapshot()) == 4
    # within the lease nobody takes them: the run sends the others, then waits
    outcome = dispatch.run(campaign.id, cfg)
    assert (outcome.state, outcome.sent) == ("busy", 2)
    later = utcnow() + timedelta(seconds=cfg.campaign_lease + 1)
    import time_machine

    with time_machine.travel(later, tick=False):
        outcome = dispatch.run(campaign.id, cfg)
    assert (outcome.state, outcome.sent, outcome.finished) == ("done", 4, True)
    f = service.figures(campaign)
    assert (f.sent, f.resent) == (6, 4)
    # 10 copies at the sink, but each recipient got one message: copies share a Message-ID
    assert len(sink.snapshot()) == 10
    assert sorted(sink.per_recipient().values()) == [1] * 6
    resent = CampaignRecipient.select().where(CampaignRecipient.resent).count()
    assert resent == 4


def test_smtp_down_pauses_the_campaign_with_the_reason_and_resume_finishes(acme):
    port = free_port()
    cfg = _cfg(smtp_url=f"smtp://127.0.0.1:{port}", campaign_max_failures=3)
    _aud, campaign = _start(acme, cfg)
    outcomes = [dispatch.run(campaign.id, cfg) for _ in range(3)]
    assert [o.state for o in outcomes] == ["retry", "retry", "stopped"]
    waits = [o.retry_in for o in outcomes]
    assert waits == [1.0, 2.0, 4.0]  # exponential backoff between attempts
    paused = Campaign.get_by_id(campaign.id)
    assert paused.status == "paused"
    assert "3 connection failures" in paused.paused_reason and str(port) in paused.paused_reason
    assert CampaignRecipient.select().where(CampaignRecipient.status == "pending").count() == 10
    sink = SmtpSink(port).start()
    try:
        with channel_settings(cfg):
            service.resume(acme.actor(acme.manager), campaign.id)
        assert dispatch.run(campaign.id, cfg).state == "done"
        assert sorted(sink.per_recipient().values()) == [1] * 10 and len(sink.snapshot()) == 10
    finally:
        sink.stop()


def test_pause_stops_within_one_batch_and_resume_sends_the_rest_once(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(acme, cfg, n=12)
    sent_before_pause = []

    def throttle():
        # the manager pauses while the first batch is being sent
        if len(sink.snapshot()) == 1 and not sent_before_pause:
            sent_before_pause.append(1)
            with channel_settings(cfg):
                service.pause(acme.actor(acme.manager), campaign.id)

    outcome = dispatch.run(campaign.id, cfg, throttle=throttle)
    assert outcome.state == "stopped" and outcome.sent == 4  # the batch in flight, no more
    assert len(sink.snapshot()) == 4
    with channel_settings(cfg):
        service.resume(acme.actor(acme.manager), campaign.id)
    assert dispatch.run(campaign.id, cfg).state == "done"
    assert sorted(sink.per_recipient().values()) == [1] * 12 and len(sink.snapshot()) == 12


def test_cancel_and_kill_switch_stop_sending(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(acme, cfg)
    with channel_settings(cfg):
        service.pause_all(acme.actor(acme.admin))
    assert dispatch.run(campaign.id, cfg).state == "stopped"
    with channel_settings(cfg):
        service.cancel(acme.actor(acme.manager), campaign.id)
    assert dispatch.run(campaign.id, cfg).state == "stopped"
    assert sink.snapshot() == []


def test_sms_with_429s_and_a_500_sends_each_once(acme):
    provider = SmsStandIn(fail_every=5, fail_once=3).start()
    try:
        cfg = _cfg(sms_api_url=provider.url, sms_api_token="sms-token")
        _aud, campaign = _start(acme, cfg, n=12, channel="sms", subject=None)
        naps = []
        outcome = dispatch.run(campaign.id, cfg, sleep=naps.append)
        # 13: the 12 and the retail customer with a phone but no email
        assert outcome.state == "done" and outcome.sent == 13
        assert naps and all(n <= 30 for n in naps)
        keys = [c["key"] for c in provider.accepted]
        assert len(keys) == len(set(keys)) == 13  # once each, by Idempotency-Key
        # 429 on every fifth call and one 500: those were retried with the same key
        assert len(provider.calls) - len(provider.accepted) >= 3
        assert {c["key"] for c in provider.calls} == set(keys)
        tokens_by_key = {r.token for r in CampaignRecipient.select() if r.status == "sent"}
        assert set(keys) == tokens_by_key
        assert all("Stop: https://crm.acme.test/t/u/" in c["body"] for c in provider.accepted)
    finally:
        provider.stop()


def test_sms_4xx_is_recorded_as_failed_with_the_reason(acme):
    provider = SmsStandIn(token="other").start()  # every call: 401 bad token
    try:
        cfg = _cfg(sms_api_url=provider.url, sms_api_token="sms-token")
        _aud, campaign = _start(acme, cfg, n=3, channel="sms", subject=None)
        outcome = dispatch.run(campaign.id, cfg)
        assert (outcome.state, outcome.failed) == ("done", 4)
        r = CampaignRecipient.select().where(CampaignRecipient.status == "failed").first()
        assert r.error == "401 bad token"
        assert service.figures(campaign).failed == 4
    finally:
        provider.stop()


def test_event_invitation_carries_an_ics_and_rsvp_links(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(
        acme,
        cfg,
        n=2,
        channel="event",
        subject="Launch party",
        body="Join us, {{ first_name }}",
        event_at="2026-12-24 18:00",
        event_location="Lusaka HQ",
    )
    dispatch.run(campaign.id, cfg)
    m = sink.snapshot()[0]
    ics = next(p for p in m.iter_attachments() if p.get_content_type() == "text/calendar")
    body = ics.get_content()
    body = body.decode() if isinstance(body, bytes) else body
    assert (
        "BEGIN:VEVENT" in body and "LOCATION:Lusaka HQ" in body and "SUMMARY:Launch party" in body
    )
    text = m.get_body(("plain",)).get_content()
    assert "/t/r/" in text and "answer=yes" in text and "answer=maybe" in text


def test_stalled_campaigns_are_found_once(acme, sink):
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(acme, cfg)
    assert dispatch.stalled(cfg.campaign_lease) == [campaign.id]  # started, never dispatched
    assert dispatch.stalled(cfg.campaign_lease) == []  # a second scanner: already enqueued
    dispatch.run(campaign.id, dataclasses.replace(cfg, smtp_url="smtp://127.0.0.1:9"))
    later = utcnow() + timedelta(seconds=cfg.campaign_lease + 1)
    assert dispatch.stalled(cfg.campaign_lease) == []  # being worked on
    assert dispatch.stalled(cfg.campaign_lease, later) == [campaign.id]  # nobody for a lease
    assert dispatch.stalled(cfg.campaign_lease, later) == []


def test_a_slow_batch_keeps_its_claim(acme, sink, monkeypatch):
    """A batch slower than the lease renews its claim: no other worker takes its rows. Time
    is moved, not waited for: each message takes 0.75 s of both clocks the dispatch reads
    (the wall clock of the claims, the monotonic one of the renewals)."""
    import types

    import time_machine

    cfg = dataclasses.replace(_cfg(smtp_url=sink.url), campaign_lease=3.0, campaign_batch=6)
    _, campaign = _start(acme, cfg, n=6)
    stolen = []
    monotonic = [0.0]
    monkeypatch.setattr(dispatch, "time", types.SimpleNamespace(monotonic=lambda: monotonic[0]))

    with time_machine.travel(utcnow(), tick=False) as traveller:

        def slow_provider():
            traveller.shift(0.75)  # 6 messages: 4.5 s, longer than the 3 s lease
            monotonic[0] += 0.75
            stolen.extend(dispatch.claim(campaign.id, 10, cfg.campaign_lease).rows)

        outcome = dispatch.run(campaign.id, cfg, throttle=slow_provider)
    assert stolen == [] and (outcome.sent, outcome.finished) == (6, True)
    assert len(sink.snapshot()) == 6 and service.figures(campaign).resent == 0


def test_a_row_taken_over_while_a_batch_sends_is_left_to_its_new_owner(acme, sink):
    """The renewal is a compare-and-set on the lease: a row that another worker holds by the
    time the batch renews (the lease ran out behind a slow provider) is that worker's to send;
    sending it here too would be a second copy without any crash."""
    cfg = _cfg(smtp_url=sink.url)
    _aud, campaign = _start(acme, cfg, n=3)
    batch = dispatch.claim(campaign.id, 3, cfg.campaign_lease)
    sender = dispatch._Sender(Campaign.get_by_id(campaign.id), cfg, "Acme")
    last = batch.rows[-1]["id"]
    messages: list[int] = []

    def slow_provider() -> None:
        messages.append(1)
        if len(messages) == 1:  # while the first message is on its way, the last row moves
            CampaignRecipient.update(lease="another-worker").where(
                CampaignRecipient.id == last
            ).execute()

    # a lease shorter than any message: the batch renews before each one
    assert dispatch._send_batch(sender, batch, slow_provider, lambda s: None, 1e-9) is None
    assert len(sink.snapshot()) == 2 and last not in batch.sent
    assert dispatch.record(campaign.id, batch) == (2, 0)
    row = CampaignRecipient.get_by_id(last)
    assert (row.status, row.lease) == ("sending", "another-worker")
