"""End to end: the real web process answering the reminder's buttons, a Redis outage, the
embedded ``crm serve`` killed with SIGKILL, and the metrics jobs.

Processes here run on the real clock, so reminders go to members in a zone where it is about
midday right now (``Etc/GMT±N``): "due and within 08:00-20:00 local" holds whenever the suite
runs. Waiting here is waiting for other processes, never sleeping time away.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import time_machine

from bot.blocks.followups import DONE, snooze_action_id
from crm import customers, segments
from crm import followups as fus
from crm.clock import utcnow
from crm.config import load_settings
from crm.models import Customer, CustomerMetric, CustomerSegment, FollowUp, Lead, Member, Order
from tests import workers_support
from tests.conftest import Workspace, make_member
from tests.e2e_support import SlackClient, SlackUserRef, check_blocks, free_port, http, start_web
from tests.slack_fake import FakeSlack, SlackUser
from tests.workers_support import (
    PrivateRedis,
    Workers,
    answer_history_from_posts,
    posts,
    start_workers,
    worker_env,
)
from workers.jobs import failed_jobs
from workers.metrics import recompute_all_metrics, scan_new_orders
from workers.reminders import scan_reminders
from workers.scheduler import Scheduler, job_specs, lease_for

if TYPE_CHECKING:
    from tests.conftest import TestDB

# whole processes (web, workers, a private Redis) on the real clock: out of `.ci/test --fast`
pytestmark = pytest.mark.slow

fake = workers_support.fake
stub_workers = workers_support.stub_workers
redis_namespace = workers_support.redis_namespace
redis_workers = workers_support.redis_workers

CRM = str(Path(sys.executable).with_name("crm"))


def daytime_zone(now: datetime | None = None) -> str:
    """An IANA zone where it is about 12:00 now (Etc/GMT-3 is UTC+3: the sign is inverted)."""
    offset = 12 - (now or datetime.now(UTC)).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def awake_member(ws: Workspace, fake: FakeSlack, user_id: str) -> Member:
    zone = daytime_zone()
    fake.add_user(SlackUser(user_id, user_id.title(), tz=zone, team_id=ws.company.team_id))
    member = make_member(ws.company, user_id, tz=zone)
    Member.update(refreshed_at=utcnow()).where(Member.id == member.id).execute()
    return Member.get_by_id(member.id)


def overdue(ws: Workspace, member: Member, title: str = "Call back") -> FollowUp:
    lead = Lead.create(company=ws.company.id, name=f"Lead of {member.slack_user_id}")
    return fus.create_follow_up(
        ws.actor(member),
        subject_type="lead",
        subject_id=lead.id,
        title=title,
        due_at=utcnow() - timedelta(hours=1),
    )


def click_on_dm(
    slack: SlackClient, fu: FollowUp, blocks: list, action_id: str, value: str, user: str
) -> None:
    """A button press on the bot's DM, as Slack sends it: the container names the message."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "TACME", "username": user.lower()},
        "api_app_id": "A1",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": fu.reminder_ts,
            "channel_id": fu.reminder_channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"1.{user}.trigger",
        "team": {"id": "TACME", "domain": "acme"},
        "channel": {"id": fu.reminder_channel, "name": "directmessage"},
        "message": {"ts": fu.reminder_ts, "text": "reminder", "blocks": blocks},
        "response_url": slack.web.fake.response_url("dm"),
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"followup_reminder:{fu.id}",
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    r = slack.interact(payload)
    assert r.status == 200, r.text


def scan_now(workers: Workers, now: datetime) -> None:
    with time_machine.travel(now.replace(tzinfo=UTC), tick=True):
        scan_reminders.send(now=now.isoformat())
        workers.drain()


# --- the buttons, through the real web process ---------------------------------------------


def test_done_and_snooze_buttons_on_the_reminder_dm(
    db: TestDB, acme: Workspace, fake: FakeSlack, stub_workers: Workers, tmp_path: Path
) -> None:
    rep = awake_member(acme, fake, "UACREP1")
    first, second = overdue(acme, rep, "Send the quote"), overdue(acme, rep, "Call Mwila")
    now = utcnow()
    scan_now(stub_workers, now)
    dms = posts(fake)
    assert len(dms) == 2
    for dm in dms:
        check_blocks(dm.args["blocks"], where="reminder DM")
    by_fid = {c.args["metadata"]["event_payload"]["follow_up_id"]: c for c in dms}

    with start_web(db.url, fake, tmp_path) as web:
        slack = SlackClient(web)
        fu = FollowUp.get_by_id(first.id)
        click_on_dm(slack, fu, by_fid[fu.id].args["blocks"], DONE, str(fu.id), rep.slack_user_id)
        [update] = fake.wait_for("chat.update", 1)
        assert (update.args["channel"], update.args["ts"]) == (fu.reminder_channel, fu.reminder_ts)
        assert "done" in str(update.args["blocks"]) and "undo" in str(update.args["blocks"])
        check_blocks(update.args["blocks"], where="done")
        assert FollowUp.get_by_id(fu.id).status == "completed"

        fu2 = FollowUp.get_by_id(second.id)
        clicked_at = utcnow()
        click_on_dm(
            slack,
            fu2,
            by_fid[fu2.id].args["blocks"],
            snooze_action_id("1h"),
            f"{fu2.id}:1h",
            rep.slack_user_id,
        )
        updates = fake.wait_for("chat.update", 2)
        assert updates[1].args["ts"] == fu2.reminder_ts and "Snoozed" in str(updates[1].args)
    snoozed = FollowUp.get_by_id(fu2.id).snoozed_until
    assert clicked_at + timedelta(minutes=59) <= snoozed <= utcnow() + timedelta(hours=1)

    # a day's reminder was sent; the snooze brings the next one an hour later, not a day
    scan_now(stub_workers, snoozed - timedelta(minutes=1))
    assert len(posts(fake)) == 2
    scan_now(stub_workers, snoozed + timedelta(minutes=1))
    dms = posts(fake)
    assert len(dms) == 3 and dms[-1].args["metadata"]["event_payload"]["follow_up_id"] == fu2.id


# --- Redis down: the web keeps storing, the work is picked up when Redis is back -----------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


OUTAGE_SECONDS = float(os.environ.get("CRM_TEST_REDIS_OUTAGE_SECONDS", "60"))


def _reminded(follow_ups: list[FollowUp]) -> int:
    ids = [f.id for f in follow_ups]
    return FollowUp.select().where(FollowUp.id.in_(ids) & (FollowUp.reminder_count > 0)).count()


def _scans_run(caplog: pytest.LogCaptureFixture) -> int:
    """Reminder scans the in-process workers finished (their message log's line each)."""
    return sum(
        1
        for r in caplog.records
        if r.name == "crm.workers"
        and r.msg.startswith("message %s %s")
        and r.args
        and r.args[1] == "scan_reminders"
    )


def test_redis_outage_web_keeps_storing_and_reminders_go_out_once_after(
    db: TestDB,
    acme: Workspace,
    fake: FakeSlack,
    private_redis: PrivateRedis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="crm.workers")
    members = [awake_member(acme, fake, f"UOUT{i}") for i in range(4)]
    env = worker_env(
        db,
        fake,
        REDIS_URL=private_redis.url,
        CRM_REDIS_NAMESPACE="crm",
        CRM_SCAN_INTERVAL="1",
        CRM_SCHEDULER_LOCK_TTL="2",
    )
    settings = load_settings(env)
    workers = start_workers(settings, threads=4)
    from workers import composition

    scheduler = Scheduler(
        workers.broker,
        lease_for(settings, composition.current().redis),
        job_specs(settings),
        blocking=False,
    )
    scheduler.start()
    try:
        with start_web(db.url, fake, tmp_path, extra_env={"REDIS_URL": private_redis.url}) as web:
            private_redis.stop()
            slack = SlackClient(web)
            user = SlackUserRef(members[0].slack_user_id)
            r = slack.command('lead add "Chanda Mulenga" source=referral', user)
            assert r.status == 200, r.text
            _wait(lambda: Lead.get_or_none(Lead.name == "Chanda Mulenga"), 10, "the lead")
            assert http("GET", f"{web.url}/healthz").status == 200
            due = [overdue(acme, m) for m in members]  # stored while Redis is down
            # a minute without Redis (the figure): the scheduler's firings fail all
            # along while members keep working and every command is stored and answered
            outage_ends = time.monotonic() + OUTAGE_SECONDS
            n = 0
            while time.monotonic() < outage_ends:
                n += 1
                r = slack.command(f'lead add "Outage Lead {n}" company="Firm {n}"', user)
                assert r.status == 200, r.text
                assert f"Outage Lead {n}" in r.text and "duplicate" not in r.text
                assert http("GET", f"{web.url}/healthz").status == 200
                time.sleep(5)
            assert Lead.select().where(Lead.name.startswith("Outage Lead")).count() == n
            assert posts(fake) == []

            private_redis.start()  # empty: whatever the queue held is gone
            _wait(lambda: _reminded(due) == len(due), 60, "the reminders after Redis")
            scans = _scans_run(caplog)
            _wait(lambda: _scans_run(caplog) >= scans + 2, 30, "two more scans")  # nothing twice
    finally:
        scheduler.shutdown()
        workers.stop()
        workers.broker.close()
    sent = sorted(c.args["metadata"]["event_payload"]["follow_up_id"] for c in posts(fake))
    assert sent == sorted(f.id for f in due)
    assert {f.reminder_count for f in FollowUp.select()} == {1}


# --- the embedded process killed with SIGKILL ------------------------------------------------


def _healthy(url: str) -> bool:
    try:
        return http("GET", f"{url}/healthz", timeout=2).status == 200
    except OSError:  # not listening yet
        return False


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [CRM, "serve", "--host", "127.0.0.1", "--threads", "4"],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _scans_done(log: Path) -> list[datetime]:
    """When the ``crm serve`` of ``log`` finished each reminder scan (its log's clock, the
    machine's local time like :func:`datetime.now`)."""
    return [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        for line in log.read_text().splitlines()
        if " scan_reminders company=None done " in line
    ]


CLAIM_TIMEOUT_SECONDS = 3
SERVE_WAIT = 180.0  # `crm serve` is up in ~4 s, but took 27 s on a loaded two-core machine


def _wait_on(
    proc: subprocess.Popen[bytes], log: Path, check: Callable[[], object], what: str
) -> None:
    """Wait for ``check`` while ``crm serve`` runs: at once, with its log, if it stopped."""
    deadline = time.monotonic() + SERVE_WAIT
    while not check():
        assert proc.poll() is None, f"crm serve exited waiting for {what}\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log.read_text()}"
        time.sleep(0.1)


def test_crm_serve_killed_while_sending_sends_each_reminder_once_after_restart(
    db: TestDB, acme: Workspace, fake: FakeSlack, tmp_path: Path
) -> None:
    """Each DM takes Slack 0.4 s, so a batch of twelve outlasts the 3 s claim timeout: the
    batch must renew its claims or the next scans take its last reminders over and post them
    a second time (what this test caught under load)."""
    members = [awake_member(acme, fake, f"UKILL{i:02d}") for i in range(12)]
    due = [overdue(acme, m) for m in members]
    answer_history_from_posts(fake)
    slow = fake._default

    def slow_post(call):  # type: ignore[no-untyped-def]
        time.sleep(0.4)  # Slack has the message; the answer is still on its way
        return slow(call)

    fake.handlers["chat.postMessage"] = slow_post
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_", "REDIS_", "CRM_", "PORT"))
    }
    env.update(
        worker_env(
            db,
            fake,
            CRM_SCAN_INTERVAL="1",
            CRM_REMINDER_CLAIM_TIMEOUT=str(CLAIM_TIMEOUT_SECONDS),
        ),
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "serve.log"
    proc = _serve(env, log)
    try:
        _wait_on(proc, log, lambda: len(posts(fake)) >= 3, "the first DMs")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = len(posts(fake))
        assert before < len(due), "all sent before the kill; nothing was tested"

        proc = _serve(env, log)
        _wait_on(proc, log, lambda: _healthy(f"http://127.0.0.1:{port}"), "the restarted web")
        _wait_on(
            proc,
            log,
            lambda: FollowUp.select().where(FollowUp.reminder_count == 1).count() == len(due),
            "every reminder recorded",
        )
        # more scans, the last one a claim timeout after everything was recorded (a claim
        # left behind would have gone stale and been taken over): still nothing twice
        quiet_until = datetime.now() + timedelta(seconds=CLAIM_TIMEOUT_SECONDS + 1)
        _wait_on(
            proc,
            log,
            lambda: any(done > quiet_until for done in _scans_done(log)),
            "the scans a claim timeout later",
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(SERVE_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    sent = sorted(c.args["metadata"]["event_payload"]["follow_up_id"] for c in posts(fake))
    assert sent == sorted(f.id for f in due), log.read_text()[-3000:]
    assert {f.reminder_count for f in FollowUp.select()} == {1}
    # the kill left claims behind, and their takeover looked for a DM Slack already had
    assert fake.calls_to("conversations.history")


# --- metrics -----------------------------------------------------------------------------------


def test_a_new_order_enqueues_the_customers_recompute(
    acme: Workspace, stub_workers: Workers
) -> None:
    customer = customers.create_customer(acme.actor(acme.admin), name="Bwalya Stores")
    # an order that arrived without the service (a bulk load): only the scan can notice it
    Order.create(company=acme.company.id, customer=customer.id, amount=Decimal("25000"))
    assert CustomerMetric.get_or_none(CustomerMetric.customer == customer.id) is None
    scan_new_orders.send()
    stub_workers.drain()
    metric = CustomerMetric.get(CustomerMetric.customer == customer.id)
    assert (metric.lifetime_value, metric.tier) == (Decimal("25000.00"), "silver")


def test_nightly_job_recomputes_every_company_and_segment(
    acme: Workspace, globex: Workspace, stub_workers: Workers
) -> None:
    made = []
    for ws, amount in ((acme, "120000"), (globex, "60000")):
        c = Customer.create(company=ws.company.id, name=f"Big {ws.company.team_id}")
        Order.create(company=ws.company.id, customer=c.id, amount=Decimal(amount))
        made.append(c)
    segment = segments.create_segment(
        acme.actor(acme.admin), name="Platinum", criteria={"tier": "platinum"}
    )
    assert CustomerSegment.get_by_id(segment.id).customer_count == 0
    recompute_all_metrics.send()
    stub_workers.drain()
    tiers = {m.customer_id: m.tier for m in CustomerMetric.select()}
    assert tiers == {made[0].id: "platinum", made[1].id: "gold"}
    assert CustomerSegment.get_by_id(segment.id).customer_count == 1


# --- dead letters for an operator --------------------------------------------------------------


def test_crm_jobs_failed_lists_dead_letters_and_retry_requeues_them(
    db: TestDB, redis_workers: Workers, redis_namespace: str, tmp_path: Path
) -> None:
    scan_new_orders.send(now="not a time")  # a periodic scan is never retried: dead at once
    redis_workers.drain()
    [dead] = failed_jobs(redis_workers.broker)
    assert (dead.actor, dead.queue, dead.kwargs) == (
        "scan_new_orders",
        "metrics",
        {"now": "not a time"},
    )
    assert "ValueError" in dead.short_error

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "REDIS_"))}
    env.update(
        REDIS_URL=workers_support.REDIS_URL, CRM_REDIS_NAMESPACE=redis_namespace, COLUMNS="200"
    )

    def crm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CRM, *args], env=env, cwd=tmp_path, capture_output=True, text=True)

    listed = crm("jobs", "failed")
    assert listed.returncode == 0, listed.stderr
    assert dead.id in listed.stdout and "scan_new_orders" in listed.stdout
    assert "1 failed job(s)" in listed.stdout
    refused = crm("jobs", "retry")
    assert refused.returncode == 2 and "--all" in refused.stderr
    redis_workers.stop()  # keep the retried message in the queue to look at it
    retried = crm("jobs", "retry", dead.id)
    assert retried.returncode == 0 and "re-enqueued 1 job(s)" in retried.stdout
    assert failed_jobs(redis_workers.broker) == []
    assert redis_workers.broker.do_qsize("metrics") == 1
    assert crm("jobs", "failed").stdout.strip() == "no failed jobs"
