"""Overdue reminders: the rules of crm.reminders, then real Dramatiq workers sending DMs to the
FakeSlack (StubBroker and Redis), with time moved by time_machine."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import time_machine

from bot.blocks.followups import DONE, OPEN, snooze_action_id
from crm import followups as fus
from crm import reminders
from crm.clock import utcnow
from crm.models import FollowUp, Lead, Member
from tests import workers_support
from tests.conftest import Workspace, make_member, make_workspace
from tests.slack_fake import Call, FakeSlack
from tests.workers_support import Workers, answer_history_from_posts, posts
from workers import slack
from workers.reminders import (
    batches,
    claim_timeout,
    scan_reminders,
    send_reminder,
    send_reminders,
)

if TYPE_CHECKING:
    from tests.conftest import TestDB

fake = workers_support.fake
stub_workers = workers_support.stub_workers
redis_namespace = workers_support.redis_namespace
redis_workers = workers_support.redis_workers

# 14:00 UTC: 16:00 in Lusaka (rep), 10:00 in New York (rep2); a Tuesday
T = datetime(2026, 3, 10, 14, 0)


def at(moment: datetime) -> time_machine.travel:
    """Frozen time, for the rules."""
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=False)


def running(moment: datetime) -> time_machine.travel:
    """Time that moves on from ``moment``: worker threads wait for delayed retries and the
    per-channel rate limit in real seconds."""
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=True)


def follow_up(ws: Workspace, member: Member, due: datetime, **fields) -> FollowUp:
    lead = Lead.create(company=ws.company.id, name="Mwila Banda")
    with at(due - timedelta(hours=1)):
        return fus.create_follow_up(
            ws.actor(member),
            subject_type="lead",
            subject_id=lead.id,
            title=fields.pop("title", "Call back about the quote"),
            due_at=due,
            **fields,
        )


def due_ids(now: datetime, **kw) -> list[int]:
    return [d.follow_up_id for d in reminders.due_reminders(now, **kw)]


# --- the rules ----------------------------------------------------------------------------


def test_overdue_open_assigned_follow_ups_are_due(acme: Workspace) -> None:
    late = follow_up(acme, acme.rep, T - timedelta(hours=2))
    follow_up(acme, acme.rep, T + timedelta(hours=2))  # not due yet
    done = follow_up(acme, acme.rep, T - timedelta(hours=3))
    with at(T):
        fus.complete_follow_up(acme.actor(acme.rep), done.id)
    assert due_ids(T) == [late.id]


def test_claim_is_won_once_and_the_claim_hides_it_from_the_scan(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    first = reminders.claim_reminder(fu.id, T)
    assert first is not None and first.occasion == f"F{fu.id}#1" and not first.recovered
    assert reminders.claim_reminder(fu.id, T) is None
    assert due_ids(T + timedelta(minutes=1)) == []
    assert reminders.record_sent(first, "DUREP", "1.1")
    row = FollowUp.get_by_id(fu.id)
    assert (row.reminder_count, row.reminder_claimed_at, row.last_reminded_at) == (1, None, T)


def test_a_sender_that_read_before_another_sent_and_recorded_loses_the_claim(
    acme: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind a reminder sent twice under load: B reads the row (unclaimed), A
    claims, sends and records it (the claim is empty again), then B's compare-and-set runs.
    The claim is empty as B read it, but the reminder is spent: B must lose."""
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    read_by_b = reminders._CLAIM_ROW.models(
        FollowUp, follow_up_id=fu.id, now=T, claim_timeout=reminders.CLAIM_TIMEOUT
    )
    a = reminders.claim_reminder(fu.id, T)
    assert a is not None and reminders.record_sent(a, "DUREP", "1.1")
    monkeypatch.setattr(reminders._CLAIM_ROW, "models", lambda *args, **kw: read_by_b)
    assert reminders.claim_reminder(fu.id, T) is None
    assert FollowUp.get_by_id(fu.id).reminder_count == 1


def test_a_batch_is_claimed_once_in_order_and_recorded_in_one_go(
    acme: Workspace, globex: Workspace
) -> None:
    first = follow_up(acme, acme.rep, T - timedelta(hours=1))
    second = follow_up(acme, acme.rep2, T - timedelta(hours=2))
    done = follow_up(acme, acme.rep, T - timedelta(hours=3))
    with at(T):
        fus.complete_follow_up(acme.actor(acme.rep), done.id)
    held = follow_up(acme, acme.rep, T - timedelta(hours=1))
    assert reminders.claim_reminder(held.id, T) is not None  # another sender has it
    ids = [second.id, done.id, held.id, first.id, 987_654]
    claims = reminders.claim_reminders(ids, T)
    assert [c.follow_up_id for c in claims] == [second.id, first.id]
    assert [c.occasion for c in claims] == [f"F{second.id}#1", f"F{first.id}#1"]
    assert claims[0].subject_name == "Mwila Banda" and claims[0].slack_user_id == "UACREP2"
    assert reminders.claim_reminders(ids, T) == []  # a second sender wins nothing
    sent = [(claims[0], "D2", "2.2"), (claims[1], "D1", None)]
    assert reminders.record_sent_many(sent) == 2
    rows = {r.id: r for r in FollowUp.select().where(FollowUp.id.in_([first.id, second.id]))}
    assert (rows[second.id].reminder_channel, rows[second.id].reminder_ts) == ("D2", "2.2")
    assert (rows[first.id].reminder_channel, rows[first.id].reminder_ts) == ("D1", None)
    assert {
        (r.reminder_count, r.reminder_claimed_at, r.last_reminded_at) for r in rows.values()
    } == {(1, None, T)}
    assert reminders.record_sent_many(sent) == 0  # no longer claimed: nothing recorded twice
    assert reminders.claim_reminders([first.id, second.id], T + timedelta(hours=1)) == []


def test_at_most_once_a_day(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    claim = reminders.claim_reminder(fu.id, T)
    assert claim is not None
    reminders.record_sent(claim, "D1", "1.1")
    assert due_ids(T + timedelta(hours=5)) == []
    assert reminders.claim_reminder(fu.id, T + timedelta(hours=23, minutes=59)) is None
    assert due_ids(T + timedelta(hours=24)) == [fu.id]


def test_a_stale_claim_becomes_claimable_again(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    assert reminders.claim_reminder(fu.id, T) is not None  # the sender dies here
    later = T + reminders.CLAIM_TIMEOUT - timedelta(seconds=1)
    assert reminders.claim_reminder(fu.id, later) is None
    taken = reminders.claim_reminder(fu.id, T + reminders.CLAIM_TIMEOUT)
    assert taken is not None and taken.recovered and taken.occasion == f"F{fu.id}#1"


def test_release_gives_the_reminder_back(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    claim = reminders.claim_reminder(fu.id, T)
    assert claim is not None and reminders.release_claim(claim)
    assert due_ids(T) == [fu.id]


def test_snooze_defers_the_next_reminder(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    claim = reminders.claim_reminder(fu.id, T)
    assert claim is not None
    reminders.record_sent(claim, "D1", "1.1")
    with at(T + timedelta(minutes=5)):
        fus.snooze_follow_up(acme.actor(acme.rep), fu.id, T + timedelta(hours=1, minutes=5))
    assert due_ids(T + timedelta(hours=1, minutes=4)) == []
    assert due_ids(T + timedelta(hours=1, minutes=5)) == [fu.id]
    again = reminders.claim_reminder(fu.id, T + timedelta(hours=1, minutes=5))
    assert again is not None and again.occasion == f"F{fu.id}#2"
    reminders.record_sent(again, "D1", "1.2")
    assert due_ids(T + timedelta(hours=3)) == []  # and then once a day again


@pytest.mark.parametrize(
    ("utc", "due"),
    [
        (datetime(2026, 3, 7, 2, 0), False),  # 21:00 EST on Friday 6 March
        (datetime(2026, 3, 7, 12, 59), False),  # 07:59 EST
        (datetime(2026, 3, 7, 13, 0), True),  # 08:00 EST
        (datetime(2026, 3, 8, 1, 0), False),  # 20:00 EST on Saturday 7 March
        (datetime(2026, 3, 8, 11, 59), False),  # 07:59 EDT: clocks went forward at 02:00
        (datetime(2026, 3, 8, 12, 0), True),  # 08:00 EDT (a fixed -5 h would say 07:00)
        (datetime(2026, 3, 8, 23, 59), True),  # 19:59 EDT
        (datetime(2026, 3, 9, 1, 0), False),  # 21:00 EDT
    ],
)
def test_never_at_night_in_the_members_zone_across_dst(
    acme: Workspace, utc: datetime, due: bool
) -> None:
    fu = follow_up(acme, acme.rep2, datetime(2026, 3, 6, 12, 0))
    assert acme.rep2.tz == "America/New_York"
    assert (due_ids(utc) == [fu.id]) is due
    assert (reminders.claim_reminder(fu.id, utc) is not None) is due


def test_inactive_and_unassigned_get_no_reminder(acme: Workspace) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=1))
    unassigned = follow_up(acme, acme.rep, T - timedelta(hours=1), assigned_to_id=None)
    Member.update(is_active=False).where(Member.id == acme.rep.id).execute()
    assert due_ids(T) == []
    assert reminders.claim_reminder(fu.id, T) is None
    assert reminders.claim_reminder(unassigned.id, T) is None


# --- through real workers ------------------------------------------------------------------


def _run_scan(workers: Workers, now: datetime) -> None:
    with running(now):
        scan_reminders.send(now=now.isoformat())
        workers.drain()


@pytest.mark.parametrize("backend", ["stub_workers", "redis_workers"])
def test_an_overdue_follow_up_yields_one_dm_with_buttons(
    acme: Workspace, fake: FakeSlack, backend: str, request: pytest.FixtureRequest
) -> None:
    workers: Workers = request.getfixturevalue(backend)
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2), priority="high")
    _run_scan(workers, T)
    _run_scan(workers, T + timedelta(minutes=1))  # the next scan finds it reminded

    opened = fake.calls_to("conversations.open")
    assert [c.args["users"] for c in opened] == [acme.rep.slack_user_id]
    [post] = posts(fake)
    assert post.args["channel"] == f"D{acme.rep.slack_user_id}"
    assert f"F{fu.id}" in post.args["text"]
    assert f"L{fu.followable_id} Mwila Banda" in str(post.args["blocks"])  # the subject, named
    assert post.args["metadata"]["event_payload"]["occasion"] == f"F{fu.id}#1"
    buttons = [e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [
        DONE,
        snooze_action_id("1h"),
        snooze_action_id("1d"),
        snooze_action_id("1w"),
        OPEN,
    ]
    assert [b["value"] for b in buttons[1:4]] == [f"{fu.id}:1h", f"{fu.id}:1d", f"{fu.id}:1w"]
    row = FollowUp.get_by_id(fu.id)
    assert (row.status, row.reminder_count, row.reminder_channel) == (
        "overdue",
        1,
        f"D{acme.rep.slack_user_id}",
    )
    assert row.reminder_ts and row.reminder_claimed_at is None


def test_the_same_message_delivered_twice_yields_one_dm(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2))
    with running(T):
        for _ in range(3):
            send_reminder.send(fu.id, company_id=acme.company.id, now=T.isoformat())
        stub_workers.drain()
    assert len(posts(fake)) == 1
    assert FollowUp.get_by_id(fu.id).reminder_count == 1


def test_a_worker_killed_between_claim_and_send_sends_after_restart_once(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2))
    assert reminders.claim_reminder(fu.id, T) is not None  # ...and the worker was killed
    _run_scan(stub_workers, T + timedelta(minutes=1))
    assert posts(fake) == []  # the claim still protects it
    after = T + reminders.CLAIM_TIMEOUT + timedelta(minutes=1)
    _run_scan(stub_workers, after)
    _run_scan(stub_workers, after + timedelta(minutes=1))
    assert len(posts(fake)) == 1
    assert FollowUp.get_by_id(fu.id).last_reminded_at == after


def test_a_takeover_does_not_repeat_a_dm_slack_already_has(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    """Killed after Slack accepted the message but before the database recorded it: the
    takeover finds the message by its metadata and records it instead of posting again."""
    answer_history_from_posts(fake)
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2))
    claim = reminders.claim_reminder(fu.id, T)
    assert claim is not None
    with running(T):  # the killed worker's post reached Slack
        client = slack.client_for(acme.company)
        slack.post_limited(
            client,
            f"D{acme.rep.slack_user_id}",
            text="x",
            metadata={
                "event_type": "crm_followup_reminder",
                "event_payload": {"occasion": claim.occasion},
            },
        )
    _run_scan(stub_workers, T + reminders.CLAIM_TIMEOUT + timedelta(minutes=1))
    assert len(posts(fake)) == 1
    assert len(fake.calls_to("conversations.history")) == 1
    assert FollowUp.get_by_id(fu.id).reminder_count == 1


def test_a_batch_slower_than_the_claim_timeout_keeps_its_reminders_from_the_next_scan(
    db: TestDB, acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    """The double send seen under load. A batch claims its reminders at once and posts them one
    after another; Slack takes three minutes (of moved time) per DM, so by the second DM the
    third reminder's claim is older than the five-minute timeout. The next sender comes right
    then, while Slack still holds the second DM. Without renewal it takes the third reminder
    over, finds no DM for it and posts it, and then the batch posts it again."""
    answer_history_from_posts(fake)
    members = (acme.rep, acme.rep2, acme.manager)
    ids = [follow_up(acme, m, T - timedelta(hours=2)).id for m in members]
    due_meanwhile: list[list[int]] = []
    with at(T) as clock:

        def slow_post(call: Call) -> dict[str, Any]:
            clock.shift(timedelta(minutes=3))  # Slack has the DM; its answer takes a while
            if len(posts(fake)) == 2 and not due_meanwhile:  # the next scan, meanwhile
                with db.database.connection_context():
                    due_meanwhile.append(due_ids(utcnow()))
                    send_reminders.fn(ids, company_id=acme.company.id)
            return fake._default(call)

        fake.handlers["chat.postMessage"] = slow_post
        send_reminders.send(ids, company_id=acme.company.id)
        stub_workers.drain()

    sent = [c.args["metadata"]["event_payload"]["follow_up_id"] for c in posts(fake)]
    assert sorted(sent) == sorted(ids)  # each DM once at Slack
    assert claim_timeout() == timedelta(minutes=5)
    assert due_meanwhile == [[]]  # the batch's claims, posted or not, were renewed
    rows = FollowUp.select().where(FollowUp.id.in_(ids))
    # recorded in one go, under the claim renewed before the third DM
    assert {(r.reminder_count, r.reminder_claimed_at, r.last_reminded_at) for r in rows} == {
        (1, None, T + timedelta(minutes=6))
    }


def test_a_renewal_leaves_a_claim_taken_over_with_its_new_owner(acme: Workspace) -> None:
    kept, lost = (follow_up(acme, m, T - timedelta(hours=1)) for m in (acme.rep, acme.rep2))
    claims = reminders.claim_reminders([kept.id, lost.id], T)
    later = T + reminders.CLAIM_TIMEOUT
    [taken] = reminders.claim_reminders([lost.id], later)  # stale: another sender has it now
    assert taken.recovered
    renewed = reminders.renew_claims(claims, later + timedelta(seconds=1))
    assert [(c.follow_up_id, c.claimed_at) for c in renewed] == [
        (kept.id, later + timedelta(seconds=1))
    ]
    assert FollowUp.get_by_id(lost.id).reminder_claimed_at == later
    assert due_ids(later + timedelta(minutes=1)) == []  # both still claimed
    assert reminders.record_sent_many([(renewed[0], "D1", "1.1"), (claims[1], "D2", "2.2")]) == 1
    assert reminders.record_sent(taken, "D2", "2.2")


def test_a_failed_slack_call_releases_the_claim_and_is_retried(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2))
    fake.fail_methods["chat.postMessage"] = "internal_error"
    with running(T):
        send_reminder.send(fu.id, company_id=acme.company.id, now=T.isoformat())
        fake.wait_for("chat.postMessage", 1)
        del fake.fail_methods["chat.postMessage"]
        fake.wait_for("chat.postMessage", 2, timeout=15)  # the delayed retry
        stub_workers.drain()
    assert len(posts(fake)) == 2  # one refused, one delivered
    assert FollowUp.get_by_id(fu.id).reminder_count == 1


def test_a_permanent_refusal_waits_a_day(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers
) -> None:
    fu = follow_up(acme, acme.rep, T - timedelta(hours=2))
    fake.fail_methods["chat.postMessage"] = "cannot_dm_bot"
    _run_scan(stub_workers, T)
    _run_scan(stub_workers, T + timedelta(minutes=1))
    assert len(posts(fake)) == 1
    row = FollowUp.get_by_id(fu.id)
    assert (row.reminder_count, row.last_reminded_at, row.reminder_claimed_at) == (0, T, None)


def test_429_on_every_fifth_call_still_delivers_every_reminder_once(
    db, fake: FakeSlack, redis_workers: Workers
) -> None:
    ws = make_workspace("TRATE", "Rate")
    lead = Lead.create(company=ws.company.id, name="Lead")
    members = [ws.rep]
    members += [make_member(ws.company, f"UR{i:03d}") for i in range(24)]
    ids = []
    with at(T - timedelta(hours=3)):
        for m in members:
            ids.append(
                fus.create_follow_up(
                    ws.actor(m),
                    subject_type="lead",
                    subject_id=lead.id,
                    title="Call",
                    due_at=T - timedelta(hours=1),
                ).id
            )
    fake.rate_limit_every(5, retry_after=1)
    with running(T):
        scan_reminders.send(now=T.isoformat())
        fake.wait_for("chat.postMessage", len(members), timeout=60)
        redis_workers.drain(timeout=60)
    by_channel: dict[str, int] = {}
    for c in posts(fake):
        by_channel[c.args["channel"]] = by_channel.get(c.args["channel"], 0) + 1
    assert by_channel == {f"D{m.slack_user_id}": 1 for m in members}
    counts = [r.reminder_count for r in FollowUp.select().where(FollowUp.id.in_(ids))]
    assert counts == [1] * len(members)


# --- batches -----------------------------------------------------------------------------------


def test_batches_keep_companies_apart_and_put_a_members_second_reminder_last() -> None:
    due = [
        reminders.DueReminder(follow_up_id=fid, company_id=company, member_id=member)
        for fid, company, member in [(1, 1, 10), (2, 1, 10), (3, 1, 11), (4, 2, 20), (5, 1, 12)]
    ]
    assert list(batches(due, 2)) == [(1, [1, 3]), (1, [5, 2]), (2, [4])]
    assert list(batches(due, 20)) == [(1, [1, 3, 5, 2]), (2, [4])]
    assert list(batches([], 20)) == []


def _actors_run(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The actor of every message the workers finished (MessageLog's line per message)."""
    return [
        str(r.args[1])
        for r in caplog.records
        if r.name == "crm.workers" and r.msg.startswith("message %s %s") and r.args
    ]


def test_a_scan_sends_one_batch_and_a_failing_reminder_leaves_it_alone(
    acme: Workspace, fake: FakeSlack, stub_workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    """Four reminders go out as one ``send_reminders`` message; Slack refuses rep2's DM once,
    and only that reminder is sent again, as its own delayed ``send_reminder``."""
    caplog.set_level(logging.INFO, logger="crm.workers")
    ids = [
        follow_up(acme, member, T - timedelta(hours=2)).id
        for member in (acme.rep, acme.rep, acme.rep2, acme.manager)
    ]
    flaky = f"D{acme.rep2.slack_user_id}"
    refused: list[str] = []

    def post(call):  # type: ignore[no-untyped-def]
        if call.args["channel"] == flaky and not refused:
            refused.append(call.args["channel"])
            return {"ok": False, "error": "internal_error"}
        return {"ok": True, "channel": call.args["channel"], "ts": f"{len(fake.calls)}.0"}

    fake.handlers["chat.postMessage"] = post
    _run_scan(stub_workers, T)

    assert _actors_run(caplog) == ["scan_reminders", "send_reminders", "send_reminder"]
    assert refused == [flaky]
    delivered: dict[str, int] = {}
    for c in posts(fake):
        delivered[c.args["channel"]] = delivered.get(c.args["channel"], 0) + 1
    assert delivered == {
        f"D{acme.rep.slack_user_id}": 2,  # two follow-ups, two DMs, a second apart
        flaky: 2,  # refused once, then delivered
        f"D{acme.manager.slack_user_id}": 1,
    }
    counts = [r.reminder_count for r in FollowUp.select().where(FollowUp.id.in_(ids))]
    assert counts == [1, 1, 1, 1]


def test_a_bad_batch_size_is_refused_by_name(db) -> None:
    from crm.config import ConfigError, load_settings
    from workers.reminders import batch_size

    for raw in ("0", "ten", "-3"):
        with pytest.raises(ConfigError, match=r"CRM_REMINDER_BATCH=.* whole number of at least 1"):
            load_settings({"CRM_REMINDER_BATCH": raw})
    with pytest.raises(ConfigError, match=r"CRM_REMINDER_CLAIM_TIMEOUT=.* seconds above 0"):
        load_settings({"CRM_REMINDER_CLAIM_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"CRM_SLACK_MAX_WAIT=.* seconds 0 or more"):
        load_settings({"CRM_SLACK_MAX_WAIT": "-1"})
    assert batch_size(load_settings({"CRM_REMINDER_BATCH": "1", "CRM_SLACK_MAX_WAIT": "0"})) == 1


# --- the per-channel limit ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["stub_workers", "redis_workers"])
def test_the_channel_limiter_admits_one_per_second_per_channel(
    db, request: pytest.FixtureRequest, backend: str
) -> None:
    request.getfixturevalue(backend)
    from workers import composition
    from workers.broker import namespace

    workers = composition.current()
    key = f"{namespace(workers.settings)}:test-limiter"
    first = slack.SpacingRateLimiter(workers.limiter_backend, f"{key}:a", interval_ms=1000)
    again = slack.SpacingRateLimiter(workers.limiter_backend, f"{key}:a", interval_ms=1000)
    other = slack.SpacingRateLimiter(workers.limiter_backend, f"{key}:b", interval_ms=1000)
    with first.acquire(raise_on_failure=False) as got:
        assert got
    with again.acquire(raise_on_failure=False) as got:
        assert not got  # released or not, the second is spent for the interval
    with other.acquire(raise_on_failure=False) as got:
        assert got
    client = workers.redis
    if client is not None:  # the slot expires by itself, at the interval
        assert 0 < client.pttl(f"{key}:a") <= 1000


def test_a_burst_to_one_channel_is_spaced_a_second_apart(
    acme: Workspace, fake: FakeSlack, redis_workers: Workers
) -> None:
    """Two senders at once to one DM: the second posts a second after the first (waiting
    in-thread), while another channel is not held up."""
    client = slack.client_for(acme.company)
    channel, other = f"D{acme.rep.slack_user_id}", f"D{acme.manager.slack_user_id}"
    with ThreadPoolExecutor(3) as pool:
        burst = [pool.submit(slack.post_limited, client, channel, text=f"#{i}") for i in range(2)]
        aside = pool.submit(slack.post_limited, client, other, text="aside")
        aside.result(timeout=10)
        assert len(posts(fake, other)) == 1 and len(posts(fake, channel)) < 2
        for f in burst:
            f.result(timeout=10)
    first, second = sorted(c.at for c in posts(fake, channel))
    assert second - first >= 0.99
