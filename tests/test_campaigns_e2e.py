"""End to end over real parts: the Procfile's ``worker`` and ``scheduler`` processes on Redis,
aiosmtpd on loopback, PostgreSQL or SQLite; and in-process Dramatiq workers on Redis for the
duplicate message and the SMTP outage.

Waiting here is waiting for other processes, never sleeping time away (the SMTP outage is the
30 seconds the issue names)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crm.campaigns import dispatch, service
from crm.clock import utcnow
from crm.config import load_settings
from crm.models import Campaign, CampaignRecipient
from tests import workers_support
from tests.campaign_support import channel_settings, make_audience
from tests.conftest import TEST_SECRET_KEY, Workspace
from tests.mail_support import SmsStandIn, SmtpSink, free_port
from tests.workers_support import REDIS_URL, Workers, start_workers
from workers.campaigns import dispatch_campaign, scan_campaigns

if TYPE_CHECKING:
    from tests.conftest import TestDB

pytestmark = pytest.mark.slow

redis_namespace = workers_support.redis_namespace
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def procfile(name: str) -> list[str]:
    """The Procfile's command for ``name``, with this venv's executables."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            argv = shlex.split(command)
            exe = BIN / argv[0]
            return [str(exe) if exe.exists() else argv[0], *argv[1:]]
    raise AssertionError(f"no {name} line in the Procfile")


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


def _env(db: TestDB, namespace: str, sink: SmtpSink, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_", "REDIS_", "CRM_", "SMTP_", "MAIL_", "SMS_"))
    }
    env.update(
        DATABASE_URL=db.url,
        REDIS_URL=REDIS_URL,
        CRM_REDIS_NAMESPACE=namespace,
        CRM_SECRET_KEY=TEST_SECRET_KEY,
        SMTP_URL=sink.url,
        MAIL_FROM="Acme <news@acme.test>",
        PUBLIC_URL="https://crm.acme.test",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill(proc: subprocess.Popen[bytes], sig: int) -> None:
    """The process and its children (dramatiq forks its worker processes)."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(30)


def _email_campaign(ws: Workspace, settings, n: int) -> Campaign:  # type: ignore[no-untyped-def]
    with channel_settings(settings):
        aud = make_audience(ws, n)
        campaign = service.create_campaign(
            ws.actor(ws.manager),
            name="Big send",
            channel="email",
            segment_id=aud.segment.id,
            subject="News for {{ first_name }}",
            body="Hello {{ name }}, https://shop.acme.test/new",
        )
        return service.send_now(ws.actor(ws.manager), campaign.id)


def test_worker_killed_mid_send_every_recipient_gets_one_message(
    db: TestDB, acme: Workspace, sink: SmtpSink, redis_namespace: str, tmp_path: Path
) -> None:
    env = _env(
        db, redis_namespace, sink,
        CRM_CAMPAIGN_BATCH="25", CRM_CAMPAIGN_EMAIL_RATE="80", CRM_CAMPAIGN_LEASE="6",
        CRM_CAMPAIGN_SCAN_INTERVAL="1",
    )  # fmt: skip
    settings = load_settings(env)
    campaign = _email_campaign(acme, settings, 400)
    log = tmp_path / "procs.log"
    scheduler = _start(procfile("scheduler"), env, log)
    worker = _start(procfile("worker"), env, log)
    try:
        _wait(lambda: len(sink.snapshot()) >= 120, 90, f"sending to start\n{log.read_text()}")
        _kill(worker, signal.SIGKILL)
        killed_at = len(sink.snapshot())
        assert killed_at < 400, "all sent before the kill; nothing was tested"
        worker = _start(procfile("worker"), env, log)
        _wait(
            lambda: Campaign.get_by_id(campaign.id).status == "sent",
            120,
            f"the campaign to finish\n{log.read_text()[-4000:]}",
        )
    finally:
        _kill(worker, signal.SIGTERM)
        _kill(scheduler, signal.SIGTERM)
    messages = sink.snapshot()
    per_recipient = sink.per_recipient()
    assert len(per_recipient) == 400 and set(per_recipient.values()) == {1}  # one each
    f = service.figures(campaign)
    assert (f.status, f.sent, f.failed, f.skipped) == ("sent", 400, 0, 1)
    # every extra copy at the sink is a recipient counted "resent after a crash", and it
    # carries the Message-ID of its first copy
    resent_ids = {
        f"<{r.token}@acme.test>" for r in CampaignRecipient.select().where(CampaignRecipient.resent)
    }
    ids = [m["Message-ID"] for m in messages]
    doubled = {i for i in ids if ids.count(i) > 1}
    assert len(messages) - 400 == len(doubled)  # each extra copy is a second copy of one
    assert doubled <= resent_ids and len(resent_ids) == f.resent
    assert f.resent >= 1, "the kill left no batch between accept and record"


@contextlib.contextmanager
def _workers(db: TestDB, namespace: str, threads: int = 4, **env: str) -> Iterator[Workers]:
    """In-process Dramatiq workers on the real Redis, with these settings."""
    base = {
        "DATABASE_URL": db.url,
        "REDIS_URL": REDIS_URL,
        "CRM_REDIS_NAMESPACE": namespace,
        "MAIL_FROM": "news@acme.test",
        "PUBLIC_URL": "https://crm.acme.test",
    }
    w = start_workers(load_settings(base | env), threads=threads)
    try:
        yield w
    finally:
        w.stop()
        w.broker.close()


@pytest.fixture
def workers_on_redis(db: TestDB, redis_namespace: str, sink: SmtpSink) -> Iterator[Workers]:
    with _workers(
        db, redis_namespace, SMTP_URL=sink.url, CRM_CAMPAIGN_BATCH="10", CRM_CAMPAIGN_EMAIL_RATE="0"
    ) as w:
        yield w


def test_the_same_dramatiq_message_twice_sends_nothing_twice(
    db: TestDB, acme: Workspace, sink: SmtpSink, workers_on_redis
) -> None:
    campaign = _email_campaign(acme, workers_on_redis.settings, 60)
    message = dispatch_campaign.message(campaign.id)
    workers_on_redis.broker.enqueue(message)
    workers_on_redis.broker.enqueue(message)  # delivered again, same message id
    workers_on_redis.drain(60)
    assert Campaign.get_by_id(campaign.id).status == "sent"
    assert len(sink.snapshot()) == 60 and set(sink.per_recipient().values()) == {1}


def test_two_scanners_start_and_enqueue_a_due_campaign_once(
    db: TestDB, acme: Workspace, sink: SmtpSink
) -> None:
    settings = dataclasses.replace(load_settings({}), smtp_url=sink.url, mail_from="n@acme.test")
    campaign = _email_campaign(acme, settings, 5)
    Campaign.update(
        status="scheduled", dispatch_seen_at=None, scheduled_at=utcnow() - timedelta(seconds=1)
    ).where(Campaign.id == campaign.id).execute()
    CampaignRecipient.delete().execute()
    enqueued: list[int] = []
    barrier = threading.Barrier(2)
    conn = db.database

    def scan() -> None:
        with conn.connection_context():
            barrier.wait()
            service.start_due()
            enqueued.extend(dispatch.stalled(settings.campaign_lease))

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert enqueued == [campaign.id]
    assert CampaignRecipient.select().count() == 6


def test_smtp_down_30_seconds_pauses_with_the_reason_and_resume_loses_nothing(
    db: TestDB, acme: Workspace, redis_namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    first = SmtpSink(port).start()
    second = SmtpSink(port)
    env = {
        "DATABASE_URL": db.url,
        "REDIS_URL": REDIS_URL,
        "CRM_REDIS_NAMESPACE": redis_namespace,
        "SMTP_URL": first.url,
        "MAIL_FROM": "news@acme.test",
        "CRM_CAMPAIGN_BATCH": "5",
        "CRM_CAMPAIGN_EMAIL_RATE": "20",
        "CRM_CAMPAIGN_SEND_TIMEOUT": "2",
    }
    w = start_workers(load_settings(env), threads=2)
    try:
        campaign = _email_campaign(acme, w.settings, 80)
        dispatch_campaign.send(campaign.id)
        _wait(lambda: len(first.snapshot()) >= 20, 60, "sending to start")
        first.stop()
        down_at = time.monotonic()
        _wait(lambda: Campaign.get_by_id(campaign.id).status == "paused", 30, "the self-pause")
        paused = Campaign.get_by_id(campaign.id)
        assert "connection failures in a row" in paused.paused_reason
        assert f"127.0.0.1:{port}" in paused.paused_reason
        assert len(first.snapshot()) < 80
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))  # the outage lasts 30 s
        second.start()
        with channel_settings(w.settings):
            service.resume(acme.actor(acme.manager), campaign.id)
        dispatch_campaign.send(campaign.id)
        _wait(lambda: Campaign.get_by_id(campaign.id).status == "sent", 60, "the rest")
        w.drain(30)
    finally:
        w.stop()
        w.broker.close()
        first.stop()
        second.stop()
    f = service.figures(campaign)
    assert (f.sent, f.failed, f.resent) == (80, 0, 0)
    messages = first.snapshot() + second.snapshot()
    assert second.snapshot(), "nothing was left for after the outage"
    to = [str(m["To"]) for m in messages]
    assert len(messages) == 80 and len(set(to)) == 80  # nothing lost, nothing repeated


def _sending(ws: Workspace, settings, n: int, industry: str, **fields: object) -> Campaign:  # type: ignore[no-untyped-def]
    """A campaign to ``n`` customers of a new segment, started (the workers' scan sends it)."""
    with channel_settings(settings):
        aud = make_audience(ws, n, industry=industry)
        campaign = service.create_campaign(
            ws.actor(ws.manager),
            **{
                "name": f"{industry} news",
                "channel": "email",
                "segment_id": aud.segment.id,
                "subject": "News for {{ first_name }}",
                "body": "Hello {{ name }}",
            }
            | fields,
        )
        return service.send_now(ws.actor(ws.manager), campaign.id)


def _status(campaign: Campaign) -> str:
    return Campaign.get_by_id(campaign.id).status


def test_pause_mid_send_stops_within_one_batch_and_resume_sends_the_rest_once(
    db: TestDB, acme: Workspace, sink: SmtpSink, redis_namespace: str
) -> None:
    with _workers(
        db, redis_namespace, SMTP_URL=sink.url, CRM_CAMPAIGN_BATCH="10",
        CRM_CAMPAIGN_EMAIL_RATE="40", CRM_CAMPAIGN_PARALLEL="1",
    ) as w:  # fmt: skip
        campaign = _sending(acme, w.settings, 150, "retail")
        scan_campaigns.send()
        _wait(lambda: len(sink.snapshot()) >= 30, 60, "sending to start")
        with channel_settings(w.settings):
            service.pause(acme.actor(acme.manager), campaign.id)
        at_pause = len(sink.snapshot())
        w.drain(60)
        stopped_at = len(sink.snapshot())
        assert stopped_at - at_pause <= 10, "more than the batch in flight went out"
        assert stopped_at < 150 and _status(campaign) == "paused"
        with channel_settings(w.settings):
            service.resume(acme.actor(acme.manager), campaign.id)
        scan_campaigns.send()  # the scheduler's next scan: a resumed campaign goes at once
        _wait(lambda: _status(campaign) == "sent", 60, "the rest after Resume")
        w.drain(30)
    per_recipient = sink.per_recipient()
    assert len(per_recipient) == 150 and set(per_recipient.values()) == {1}
    assert len(sink.snapshot()) == 150
    f = service.figures(campaign)
    assert (f.sent, f.failed, f.resent) == (150, 0, 0)


def test_the_kill_switch_stops_every_sending_campaign_and_cancel_stops_for_good(
    db: TestDB, acme: Workspace, sink: SmtpSink, redis_namespace: str
) -> None:
    with _workers(
        db, redis_namespace, SMTP_URL=sink.url, CRM_CAMPAIGN_BATCH="10",
        CRM_CAMPAIGN_EMAIL_RATE="40", CRM_CAMPAIGN_PARALLEL="1",
    ) as w:  # fmt: skip
        first = _sending(acme, w.settings, 120, "retail")
        second = _sending(acme, w.settings, 120, "energy")
        scan_campaigns.send()
        _wait(lambda: len(sink.snapshot()) >= 20, 60, "sending to start")
        with channel_settings(w.settings):
            paused = service.pause_all(acme.actor(acme.admin))
        assert {c.id for c in paused} == {first.id, second.id}
        w.drain(60)
        stopped_at = len(sink.snapshot())
        assert stopped_at < 200, "the kill switch stopped nothing"
        for c in (first, second):
            assert _status(c) == "paused"
            assert "kill switch" in Campaign.get_by_id(c.id).paused_reason
        with channel_settings(w.settings):
            service.cancel(acme.actor(acme.manager), first.id)
            service.resume(acme.actor(acme.manager), second.id)
        scan_campaigns.send()
        _wait(lambda: _status(second) == "sent", 60, "the resumed campaign to finish")
        scan_campaigns.send()  # a later scan finds nothing of the cancelled one to send
        w.drain(30)
    assert _status(first) == "cancelled"
    sent_first = service.figures(first).sent
    assert sent_first < 120
    assert service.figures(second).sent == 120
    messages = sink.snapshot()
    assert len(messages) == sent_first + 120  # nothing of the cancelled one after it
    # (both segments hold the same addresses: a message is one recipient of one campaign)
    ids = [m["Message-ID"] for m in messages]
    assert len(set(ids)) == len(ids)


def test_sms_through_the_workers_with_429s_and_a_500_sends_each_once(
    db: TestDB, acme: Workspace, redis_namespace: str
) -> None:
    provider = SmsStandIn(fail_every=5, fail_once=3).start()
    try:
        with _workers(
            db, redis_namespace, SMS_API_URL=provider.url, SMS_API_TOKEN="sms-token",
            CRM_CAMPAIGN_BATCH="5", CRM_CAMPAIGN_SMS_RATE="0",
        ) as w:  # fmt: skip
            campaign = _sending(acme, w.settings, 30, "retail", channel="sms", subject=None)
            scan_campaigns.send()
            _wait(lambda: _status(campaign) == "sent", 90, "the SMS campaign to finish")
            w.drain(30)
    finally:
        provider.stop()
    keys = [c["key"] for c in provider.accepted]
    # the 30 and the retail customer with a phone but no email: once each, by Idempotency-Key
    assert len(keys) == len(set(keys)) == 31
    assert len(provider.calls) - len(provider.accepted) >= 6  # the 429s and the 500, retried
    assert {c["key"] for c in provider.calls} == set(keys)  # a retry reuses its key
    f = service.figures(campaign)
    assert (f.sent, f.failed) == (31, 0)
