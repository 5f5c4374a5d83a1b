"""Which follow-ups are due a reminder DM, and the claim that makes each go out once (SPEC 5.3).

Pure domain: no Slack, no queue. The workers ask :func:`due_reminders` what to send, then for
each one :func:`claim_reminder` (a conditional UPDATE: of two senders holding the same message,
exactly one wins), call Slack, and :func:`record_sent` or, if the call failed,
:func:`release_claim`. The database is the truth; a message that is lost, repeated or
retried only delays or repeats an *attempt*.

The rules, all in one place (:func:`_eligible`):

- open (``pending`` or ``overdue``), due, assigned to an active member;
- not snoozed (``snoozed_until`` in the past or unset);
- "at most once a day": never reminded, or last reminded 24 h ago or more - unless this is
  a new *occasion*: the due time or the end of a snooze lies after the last reminder (a
  snoozed follow-up comes back when the snooze ends, not a day later);
- never at night: the assignee's local time (their IANA zone, so DST is handled by zoneinfo)
  lies within 08:00-20:00;
- not claimed by another sender, unless that claim is older than the claim timeout (a worker
  killed between claim and send): then the reminder is claimable again and goes out after the
  restart, once.

An occasion has a key (``F12#3``: the follow-up and the number of the reminder) that the
sender attaches to the Slack message as metadata, so a sender that takes over a stale claim
can first look whether the killed one got the message out after all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import Expression

from crm.errors import ValidationError
from crm.models import FollowUp, Member

__all__ = [
    "CLAIM_TIMEOUT",
    "DAY_END",
    "DAY_START",
    "OPEN_STATUSES",
    "REMIND_EVERY",
    "Claim",
    "DueReminder",
    "claim_reminder",
    "due_reminders",
    "is_waking_hour",
    "record_failed",
    "record_sent",
    "release_claim",
    "snooze_until",
]

OPEN_STATUSES = ("pending", "overdue")
REMIND_EVERY = timedelta(hours=24)
DAY_START = time(8, 0)
DAY_END = time(20, 0)
CLAIM_TIMEOUT = timedelta(minutes=5)
"""How long a claim protects a reminder. Longer than any Slack call plus its in-process
retries (the worker's time limit is 60 s), short enough that a killed worker's reminder is
not late by much."""


@dataclass(frozen=True)
class DueReminder:
    follow_up_id: int
    company_id: int
    member_id: int


@dataclass(frozen=True)
class Claim:
    """What the winner of a claim needs to send the DM."""

    follow_up_id: int
    company_id: int
    member_id: int
    slack_user_id: str
    claimed_at: datetime
    occasion: str
    recovered: bool  # a stale claim was taken over: the killed sender may have sent already
    previous_channel: str | None


@lru_cache(maxsize=1024)
def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_waking_hour(now: datetime, tz: str | None) -> bool:
    """08:00 <= local time < 20:00 for naive-UTC ``now`` in the zone ``tz``."""
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(_zone(tz))
    return DAY_START <= local.time() < DAY_END


def _second(now: datetime) -> datetime:
    """Stored timestamps have whole seconds; compare like with like on both databases."""
    return now.replace(microsecond=0, tzinfo=None)


def _eligible(now: datetime) -> Expression:
    f = FollowUp
    return (
        f.status.in_(OPEN_STATUSES)
        & (f.due_at <= now)
        & f.assigned_to.is_null(False)
        & (f.snoozed_until.is_null() | (f.snoozed_until <= now))
        & (
            f.last_reminded_at.is_null()
            | (f.last_reminded_at <= now - REMIND_EVERY)
            | (f.due_at > f.last_reminded_at)
            | (f.snoozed_until.is_null(False) & (f.snoozed_until > f.last_reminded_at))
        )
    )


def _unclaimed(now: datetime, claim_timeout: timedelta) -> Expression:
    claimed = FollowUp.reminder_claimed_at
    return claimed.is_null() | (claimed <= now - claim_timeout)


def due_reminders(
    now: datetime,
    *,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
    company_id: int | None = None,
    limit: int = 20_000,
) -> list[DueReminder]:
    """Every follow-up that should get a reminder DM at ``now`` (one query, all companies).

    The local-time rule is applied in Python on the query's result: time-zone arithmetic is
    not portable between SQLite and PostgreSQL, and zoneinfo gets DST right.
    """
    now = _second(now)
    where = (
        _eligible(now) & _unclaimed(now, claim_timeout) & (Member.is_active == True)  # noqa: E712 (a SQL comparison)
    )
    if company_id is not None:
        where &= FollowUp.company == company_id
    rows = (
        FollowUp.select(FollowUp.id, FollowUp.company, FollowUp.assigned_to, Member.tz)
        .join(Member, on=(FollowUp.assigned_to == Member.id))
        .where(where)
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(limit)
        .tuples()
    )
    return [DueReminder(fid, cid, mid) for fid, cid, mid, tz in rows if is_waking_hour(now, tz)]


def claim_reminder(
    follow_up_id: int, now: datetime, *, claim_timeout: timedelta = CLAIM_TIMEOUT
) -> Claim | None:
    """Claim the reminder of one follow-up for this sender; ``None`` when it is not (or no
    longer) due, or another sender holds it.

    The rules are checked again here, not trusted from the scan: the message may have waited
    in the queue while the follow-up was completed, snoozed, or the evening came.
    """
    now = _second(now)
    row = (
        FollowUp.select(
            FollowUp.company,
            FollowUp.assigned_to,
            FollowUp.reminder_claimed_at,
            FollowUp.reminder_count,
            FollowUp.reminder_channel,
            Member.slack_user_id,
            Member.tz,
        )
        .join(Member, on=(FollowUp.assigned_to == Member.id))
        .where(
            (FollowUp.id == follow_up_id)
            & _eligible(now)
            & _unclaimed(now, claim_timeout)
            & (Member.is_active == True)  # noqa: E712 (a SQL comparison)
        )
        .tuples()
        .first()
    )
    if row is None:
        return None
    company_id, member_id, previous, count, channel, slack_user_id, tz = row
    if not is_waking_hour(now, tz):
        return None
    same_claim = (
        FollowUp.reminder_claimed_at.is_null()
        if previous is None
        else FollowUp.reminder_claimed_at == previous
    )
    won = (
        FollowUp.update(reminder_claimed_at=now)
        .where((FollowUp.id == follow_up_id) & same_claim & _eligible(now))
        .execute()
    )
    if won != 1:
        return None
    return Claim(
        follow_up_id=follow_up_id,
        company_id=company_id,
        member_id=member_id,
        slack_user_id=slack_user_id,
        claimed_at=now,
        occasion=f"F{follow_up_id}#{count + 1}",
        recovered=previous is not None,
        previous_channel=channel,
    )


def record_sent(claim: Claim, channel: str, ts: str | None) -> bool:
    """The DM went out: count it and free the claim. ``False`` if the claim was lost
    meanwhile (it went stale and another sender took over)."""
    return (
        FollowUp.update(
            last_reminded_at=claim.claimed_at,
            reminder_count=FollowUp.reminder_count + 1,
            reminder_claimed_at=None,
            reminder_channel=channel,
            reminder_ts=ts,
        )
        .where(
            (FollowUp.id == claim.follow_up_id) & (FollowUp.reminder_claimed_at == claim.claimed_at)
        )
        .execute()
        == 1
    )


def record_failed(claim: Claim) -> bool:
    """Slack refused for good (the member left, the app cannot DM them): count the occasion
    as spent, without a message, so the next attempt is a day later instead of every scan."""
    return (
        FollowUp.update(last_reminded_at=claim.claimed_at, reminder_claimed_at=None)
        .where(
            (FollowUp.id == claim.follow_up_id) & (FollowUp.reminder_claimed_at == claim.claimed_at)
        )
        .execute()
        == 1
    )


def release_claim(claim: Claim) -> bool:
    """The Slack call failed: give the reminder back so a retry (or the next scan) sends it."""
    return (
        FollowUp.update(reminder_claimed_at=None)
        .where(
            (FollowUp.id == claim.follow_up_id) & (FollowUp.reminder_claimed_at == claim.claimed_at)
        )
        .execute()
        == 1
    )


SNOOZE_CHOICES = ("1h", "1d", "1w")


def snooze_until(choice: str, now: datetime, tz: str | None) -> datetime:
    """The end of a reminder's Snooze button, naive UTC: ``1h`` and ``1d`` from now; ``1w``
    ("next week") is next Monday 09:00 in the member's zone, the start of their working week,
    not 168 hours from a Friday evening."""
    now = _second(now)
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "1d":
        return now + timedelta(days=1)
    if choice == "1w":
        zone = _zone(tz)
        local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        monday = local.date() + timedelta(days=7 - local.weekday())
        start = datetime.combine(monday, time(9, 0), tzinfo=zone)
        return start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    raise ValidationError(
        "snooze", f"{choice!r} is not a snooze choice", hint=" or ".join(SNOOZE_CHOICES)
    )
