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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import JOIN, Case, Expression, ModelSelect, ModelUpdate, fn

from crm.errors import ValidationError
from crm.models import SUBJECT_MODELS, FollowUp, Member
from crm.sql_cache import Statement

__all__ = [
    "CLAIM_TIMEOUT",
    "DAY_END",
    "DAY_START",
    "OPEN_STATUSES",
    "REMIND_EVERY",
    "Claim",
    "DueReminder",
    "claim_reminder",
    "claim_reminders",
    "due_reminders",
    "is_waking_hour",
    "record_failed",
    "record_sent",
    "record_sent_many",
    "release_claim",
    "renew_claims",
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
    follow_up: FollowUp  # as read by the claim (title, due time, ...): no second query
    subject_name: str | None = None


# The reminder sender works across companies by design: the scheduler's scan finds due
# follow-ups in every workspace, and the claims and records that follow name them by id.


def _follow_ups(*fields: Any) -> ModelSelect:
    return FollowUp.unscoped(*fields, why="reminders: one scan of every company, then claims by id")


def _follow_ups_update(**values: Any) -> ModelUpdate:
    return FollowUp.unscoped_update(
        why="reminders: one scan of every company, then claims by id", **values
    )


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
    fields = (FollowUp.id, FollowUp.company, FollowUp.assigned_to, Member.tz)
    query = _follow_ups(*fields) if company_id is None else FollowUp.scoped(company_id, *fields)
    rows = (
        query.join(Member, on=(FollowUp.assigned_to == Member.id))
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
    rows = _CLAIM_ROW.models(
        FollowUp, follow_up_id=follow_up_id, now=now, claim_timeout=claim_timeout
    )
    row = rows[0] if rows else None  # Member's columns come along as attributes
    if row is None or not is_waking_hour(now, row.tz):
        return None
    # compare-and-set on what the rules just read: the claim, the status, the snooze
    previous = row.reminder_claimed_at
    won = _CLAIM.rowcount(
        follow_up_id=follow_up_id, now=now, previous=previous, snoozed_until=row.snoozed_until
    )
    if won != 1:
        return None
    return _claim_of(row, now)


def claim_reminders(
    follow_up_ids: list[int], now: datetime, *, claim_timeout: timedelta = CLAIM_TIMEOUT
) -> list[Claim]:
    """Claim the reminders of a batch at once: the claims won, in the order asked.

    Two statements for the whole batch instead of two per reminder (on PostgreSQL the
    round trips were a third of a worker's time per reminder): one read of the rows with
    what the DMs show, and one ``UPDATE ... RETURNING`` that claims every row still eligible
    and unclaimed *at the moment it runs*. That condition is the compare-and-set: of two
    senders holding the same ids, each row goes to exactly one (the second's UPDATE finds it
    claimed). A claim taken over from a stale one counts as ``recovered`` when the read saw
    the stale claim; should the row have been released in between, the sender merely looks
    for a message that was never posted before posting it.
    """
    if not follow_up_ids:
        return []
    now = _second(now)
    query = _claim_query(None, now, claim_timeout).where(FollowUp.id.in_(follow_up_ids))
    rows = {row.id: row for row in query.objects() if is_waking_hour(now, row.tz)}
    if not rows:
        return []
    won = (
        _follow_ups_update(reminder_claimed_at=now)
        .where(
            FollowUp.id.in_(list(rows))
            & _eligible(now)
            & _unclaimed(now, claim_timeout)
            & FollowUp.status.in_(OPEN_STATUSES)
        )
        .returning(FollowUp.id)
        .tuples()
    )
    claimed = {follow_up_id for (follow_up_id,) in won.execute()}
    return [_claim_of(rows[i], now) for i in dict.fromkeys(follow_up_ids) if i in claimed]


def _claim_of(row: FollowUp, now: datetime) -> Claim:
    """The claim of ``row`` (read with :func:`_claim_query`) just won at ``now``."""
    previous = row.reminder_claimed_at
    row.reminder_claimed_at = now
    return Claim(
        follow_up_id=row.id,
        company_id=row.company_id,
        member_id=row.assigned_to_id,
        slack_user_id=row.slack_user_id,
        claimed_at=now,
        occasion=f"F{row.id}#{row.reminder_count + 1}",
        recovered=previous is not None,
        previous_channel=row.reminder_channel,
        follow_up=row,
        subject_name=row.subject_name,
    )


def _claim_query(follow_up_id: int | None, now: datetime, claim_timeout: timedelta) -> Any:
    """The row to claim with what the DM shows: the assignee and the subject's name
    (``follow_up_id`` ``None``: every eligible row; the caller narrows it)."""
    query = _follow_ups(FollowUp, Member.slack_user_id, Member.tz).join(
        Member, on=(FollowUp.assigned_to == Member.id)
    )
    names = []
    for subject_type, model in SUBJECT_MODELS.items():
        alias = model.alias(f"subject_{subject_type}")
        query = query.join_from(
            FollowUp,
            alias,
            JOIN.LEFT_OUTER,
            on=(
                (FollowUp.followable_type == subject_type)
                & (alias.id == FollowUp.followable_id)
                & (alias.company == FollowUp.company)
            ),
        )
        names.append(alias.name)
    where = _eligible(now)
    if follow_up_id is not None:
        where = (FollowUp.id == follow_up_id) & where
    return query.select_extend(fn.COALESCE(*names).alias("subject_name")).where(
        where & _unclaimed(now, claim_timeout) & (Member.is_active == True)  # noqa: E712 (a SQL comparison)
    )


_CLAIM_ROW = Statement(_claim_query)
_CLAIM = Statement(
    lambda follow_up_id, now, previous, snoozed_until: _follow_ups_update(
        reminder_claimed_at=now
    ).where(
        (FollowUp.id == follow_up_id)
        & _same(FollowUp.reminder_claimed_at, previous)
        & _same(FollowUp.snoozed_until, snoozed_until)
        # still due: another sender may have claimed, sent and recorded it since the read,
        # which leaves the claim empty again (as read) but the reminder spent
        & _eligible(now)
    )
)


def _same(column: Any, value: datetime | None) -> Expression:
    return column.is_null() if value is None else column == value


def _still_claimed(follow_up_id: int, claimed_at: datetime) -> Expression:
    return (FollowUp.id == follow_up_id) & (FollowUp.reminder_claimed_at == claimed_at)


_SENT = Statement(
    lambda follow_up_id, claimed_at, channel, ts: _follow_ups_update(
        last_reminded_at=claimed_at,
        reminder_count=FollowUp.reminder_count + 1,
        reminder_claimed_at=None,
        reminder_channel=channel,
        reminder_ts=ts,
    ).where(_still_claimed(follow_up_id, claimed_at))
)
_FAILED = Statement(
    lambda follow_up_id, claimed_at: _follow_ups_update(
        last_reminded_at=claimed_at, reminder_claimed_at=None
    ).where(_still_claimed(follow_up_id, claimed_at))
)
_RELEASED = Statement(
    lambda follow_up_id, claimed_at: _follow_ups_update(reminder_claimed_at=None).where(
        _still_claimed(follow_up_id, claimed_at)
    )
)


def record_sent(claim: Claim, channel: str, ts: str | None) -> bool:
    """The DM went out: count it and free the claim. ``False`` if the claim was lost
    meanwhile (it went stale and another sender took over)."""
    sent = _SENT.rowcount(
        follow_up_id=claim.follow_up_id, claimed_at=claim.claimed_at, channel=channel, ts=ts
    )
    return sent == 1


def record_sent_many(sent: list[tuple[Claim, str, str | None]]) -> int:
    """:func:`record_sent` for the ``(claim, channel, ts)`` of a batch in one statement per
    claim time (a batch's claims share one); returns how many were still claimed."""
    by_time: dict[datetime, list[tuple[Claim, str, str | None]]] = {}
    for item in sent:
        by_time.setdefault(item[0].claimed_at, []).append(item)
    recorded = 0
    for claimed_at, items in by_time.items():
        ids = [claim.follow_up_id for claim, _, _ in items]
        recorded += (
            _follow_ups_update(
                last_reminded_at=claimed_at,
                reminder_count=FollowUp.reminder_count + 1,
                reminder_claimed_at=None,
                reminder_channel=Case(FollowUp.id, [(c.follow_up_id, ch) for c, ch, _ in items]),
                reminder_ts=Case(FollowUp.id, [(c.follow_up_id, ts) for c, _, ts in items]),
            )
            .where(FollowUp.id.in_(ids) & (FollowUp.reminder_claimed_at == claimed_at))
            .execute()
        )
    return recorded


def renew_claims(claims: Sequence[Claim], now: datetime) -> list[Claim]:
    """Move the claims a sender still holds to ``now``; the ones it no longer holds are left
    out, and it must not post them.

    A batch claims all its reminders at once but posts them one after another. Without
    renewal the last ones age while Slack answers the first, pass the claim timeout and the
    next scan takes them over: the takeover looks for the message in the DM, finds nothing
    (it has not been posted yet) and posts it, and so does the batch. Renewal is a
    compare-and-set on the claim time the sender holds, so a claim that was taken over stays
    with its new owner.
    """
    now = _second(now)
    by_time: dict[datetime, list[int]] = {}
    for claim in claims:
        by_time.setdefault(claim.claimed_at, []).append(claim.follow_up_id)
    held: set[int] = set()
    for claimed_at, ids in by_time.items():
        renewed = (
            _follow_ups_update(reminder_claimed_at=now)
            .where(FollowUp.id.in_(ids) & (FollowUp.reminder_claimed_at == claimed_at))
            .returning(FollowUp.id)
            .tuples()
        )
        held.update(follow_up_id for (follow_up_id,) in renewed.execute())
    return [replace(c, claimed_at=now) for c in claims if c.follow_up_id in held]


def record_failed(claim: Claim) -> bool:
    """Slack refused for good (the member left, the app cannot DM them): count the occasion
    as spent, without a message, so the next attempt is a day later instead of every scan."""
    return _FAILED.rowcount(follow_up_id=claim.follow_up_id, claimed_at=claim.claimed_at) == 1


def release_claim(claim: Claim) -> bool:
    """The Slack call failed: give the reminder back so a retry (or the next scan) sends it."""
    return _RELEASED.rowcount(follow_up_id=claim.follow_up_id, claimed_at=claim.claimed_at) == 1


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
