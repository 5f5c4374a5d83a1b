"""What the daily and weekly digests say, who is due one now, and the claim that sends each once
(SPEC 5.3). Pure domain: the workers render and send; this module only reads and decides.

- **Daily digest**: at 09:00 in each member's own zone on working days (Monday-Friday), one
  DM with the follow-ups due today and the overdue ones; none when there is nothing.
- **Weekly pipeline digest**: Monday 09:00 in the company's zone, to the company's digest
  channel: the stage moves of the past week, deals whose expected close date passed while
  they stayed open, open deals without activity for 14 days, overdue follow-ups per rep.

Both are *occasions* (a member's local date, a company's ISO week). The scheduler scans
often, and a scan finds every occasion whose time has come and which was not sent yet, for a
catch-up window of three hours: a scheduler that was down at 09:00 still sends at 10:30, but
nobody gets a morning digest in the evening. An occasion is claimed in the database before
the Slack call (an :class:`~crm.models.IdempotencyKey` row under ``occasion:...``, which
needs no table of its own) and finished after it, so a repeated message sends nothing twice
and a worker killed mid-send leaves a claim that expires and is retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from peewee import JOIN, IntegrityError, fn

from crm.acting import Actor
from crm.campaigns import service as campaign_service
from crm.clock import to_local
from crm.db import database
from crm.models import (
    OPEN_STAGES,
    AuditLog,
    Campaign,
    CloseDateChange,
    Company,
    Customer,
    CustomerPrediction,
    FollowUp,
    IdempotencyKey,
    Member,
    Opportunity,
    StageChange,
)
from crm.reminders import OPEN_STATUSES

__all__ = [
    "CATCH_UP",
    "DIGEST_AT",
    "STALE_AFTER",
    "DailyDigest",
    "DigestItem",
    "Occasion",
    "StageWeek",
    "WeeklyDigest",
    "claim_occasion",
    "companies_due_weekly_digest",
    "daily_digest",
    "finish_occasion",
    "members_due_daily_digest",
    "release_occasion",
    "weekly_digest",
]

DIGEST_AT = time(9, 0)
CATCH_UP = timedelta(hours=3)
WORKING_DAYS = frozenset(range(5))  # Monday..Friday
STALE_AFTER = timedelta(days=14)
OCCASION_TIMEOUT = timedelta(minutes=10)
LIST_LIMIT = 15
_SENT = "sent"


@dataclass(frozen=True)
class Occasion:
    """One digest to send: to a member (daily) or to a company's channel (weekly)."""

    company_id: int
    key: str
    member_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class DigestItem:
    follow_up_id: int
    title: str
    due_at: datetime
    subject_type: str
    subject_id: int
    priority: str


@dataclass(frozen=True)
class DailyDigest:
    member_id: int
    slack_user_id: str
    tz: str
    day: date
    overdue: list[DigestItem]
    today: list[DigestItem]


@dataclass(frozen=True)
class StageWeek:
    """One open stage's totals now and as they stood a week ago (count, amount, weighted)."""

    stage: str
    count: int
    amount: Decimal
    weighted: Decimal
    count_before: int
    amount_before: Decimal
    weighted_before: Decimal


@dataclass(frozen=True)
class WeeklyDigest:
    company_id: int
    currency: str
    week: str
    since: datetime
    stage_moves: list[dict[str, object]] = field(default_factory=list)
    stage_move_count: int = 0
    slipped: list[dict[str, object]] = field(default_factory=list)
    stale: list[dict[str, object]] = field(default_factory=list)
    overdue_by_rep: list[dict[str, object]] = field(default_factory=list)
    slipping_customers: list[dict[str, object]] = field(default_factory=list)  # SPEC 13
    campaigns: list[Campaign] = field(default_factory=list)  # sent during the week (SPEC 6)
    # open pipeline per stage now and a week ago (StageWeek rows, OPEN_STAGES order)
    stages: list[StageWeek] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.stage_move_count
            or self.slipped
            or self.stale
            or self.overdue_by_rep
            or self.slipping_customers
            or self.campaigns
        )


def _in_window(local: datetime) -> bool:
    start = datetime.combine(local.date(), DIGEST_AT, tzinfo=local.tzinfo)
    return start <= local < start + CATCH_UP


def _end_of_local_day_utc(now: datetime, tz: str) -> datetime:
    local = to_local(now, tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
    return midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _sent_keys(keys: list[str]) -> set[tuple[int, str]]:
    if not keys:
        return set()
    rows = (
        IdempotencyKey.unscoped(
            IdempotencyKey.company, IdempotencyKey.key, why="the scheduler's scan of every company"
        )
        .where(IdempotencyKey.key.in_(keys) & (IdempotencyKey.change_id == _SENT))
        .tuples()
    )
    return set(rows)


# --- daily ------------------------------------------------------------------------------------


def members_due_daily_digest(now: datetime) -> list[Occasion]:
    """Members at 09:00-12:00 local on a working day with something due by the end of their
    local day, whose digest for that day was not sent yet (three queries, any number of
    members)."""
    horizon = now + timedelta(hours=26)  # covers the end of "today" in every zone
    rows = (
        FollowUp.unscoped(
            Member.id,
            Member.company,
            Member.tz,
            fn.MIN(FollowUp.due_at),
            why="the scheduler finds the members of every company whose digest is due",
        )
        .join(Member, on=(FollowUp.assigned_to == Member.id))
        .where(
            FollowUp.status.in_(OPEN_STATUSES)
            & (FollowUp.due_at < horizon)
            & (Member.is_active == True)  # noqa: E712 (SQL)
        )
        .group_by(Member.id, Member.company, Member.tz)
        .tuples()
    )
    candidates: list[Occasion] = []
    for member_id, company_id, tz, first_due in rows:
        tz = tz or "UTC"
        local = to_local(now, tz)
        if local.weekday() not in WORKING_DAYS or not _in_window(local):
            continue
        if first_due >= _end_of_local_day_utc(now, tz):
            continue
        key = f"occasion:digest:daily:{member_id}:{local.date().isoformat()}"
        candidates.append(Occasion(company_id, key, member_id=member_id))
    sent = _sent_keys([o.key for o in candidates])
    return [o for o in candidates if (o.company_id, o.key) not in sent]


def _items(rows: list[FollowUp]) -> list[DigestItem]:
    return [
        DigestItem(r.id, r.title, r.due_at, r.followable_type, r.followable_id, r.priority)
        for r in rows
    ]


def daily_digest(member_id: int, now: datetime) -> DailyDigest | None:
    """The member's open follow-ups due before the end of their local day, split into overdue
    and later today; ``None`` when there is nothing (no digest is sent then)."""
    member = (
        Member.unscoped(why="a digest job names its member by id")
        .where(Member.id == member_id)
        .first()
    )
    if member is None or not member.is_active:
        return None
    tz = member.tz or "UTC"
    end = _end_of_local_day_utc(now, tz)
    rows = list(
        FollowUp.scoped(member.company_id)
        .where(
            (FollowUp.assigned_to == member.id)
            & FollowUp.status.in_(OPEN_STATUSES)
            & (FollowUp.due_at < end)
        )
        .order_by(FollowUp.due_at, FollowUp.id)
    )
    if not rows:
        return None
    return DailyDigest(
        member_id=member.id,
        slack_user_id=member.slack_user_id,
        tz=tz,
        day=to_local(now, tz).date(),
        overdue=_items([r for r in rows if r.due_at <= now]),
        today=_items([r for r in rows if r.due_at > now]),
    )


# --- weekly -----------------------------------------------------------------------------------


def companies_due_weekly_digest(now: datetime) -> list[Occasion]:
    """Companies with a digest channel where it is Monday 09:00-12:00 and this ISO week's
    digest was not sent yet."""
    candidates: list[Occasion] = []
    rows = (
        Company.select(Company.id, Company.timezone, Company.digest_channel)
        .where(Company.digest_channel.is_null(False) & (Company.digest_channel != ""))
        .tuples()
    )
    for company_id, tz, channel in rows:
        local = to_local(now, tz or "UTC")
        if local.weekday() != 0 or not _in_window(local):
            continue
        year, week, _ = local.isocalendar()
        key = f"occasion:digest:weekly:{year}-W{week:02d}"
        candidates.append(Occasion(company_id, key, channel=channel))
    sent = _sent_keys([o.key for o in candidates])
    return [o for o in candidates if (o.company_id, o.key) not in sent]


def weekly_digest(company_id: int, now: datetime) -> WeeklyDigest:
    """The pipeline's week for one company: four grouped queries, whatever its size."""
    company = Company.get_by_id(company_id)
    tz = company.timezone or "UTC"
    local = to_local(now, tz)
    year, week, _ = local.isocalendar()
    since = now - timedelta(days=7)
    opp = Opportunity

    moves_q = (
        StageChange.scoped(
            company_id,
            StageChange.entity_id,
            opp.name,
            StageChange.from_stage,
            StageChange.to_stage,
            StageChange.changed_at,
        )
        .join(opp, on=(StageChange.entity_id == opp.id))
        .where(
            (StageChange.entity_type == "opportunity")
            & StageChange.from_stage.is_null(False)
            & (StageChange.changed_at >= since)
            & (opp.company == company_id)
        )
    )
    move_count = moves_q.count()
    moves = [
        {"id": i, "name": n, "from": f, "to": t, "at": at}
        for i, n, f, t, at in moves_q.order_by(StageChange.changed_at.desc())
        .limit(LIST_LIMIT)
        .tuples()
    ]

    open_deals = opp.stage.in_(OPEN_STAGES)
    slipped = [
        {"id": i, "name": n, "expected_close_date": d, "amount": a, "assignee": who}
        for i, n, d, a, who in opp.scoped(
            company_id, opp.id, opp.name, opp.expected_close_date, opp.amount, Member.name
        )
        .join(Member, JOIN.LEFT_OUTER, on=(opp.assigned_to == Member.id))
        .where(open_deals & (opp.expected_close_date < local.date()))
        .order_by(opp.expected_close_date, opp.id)
        .limit(LIST_LIMIT)
        .tuples()
    ]
    slipped += _moved_close_dates(company_id, since, {d["id"] for d in slipped})

    cutoff = now - STALE_AFTER
    recent_move = StageChange.scoped(company_id, StageChange.id).where(
        (StageChange.entity_type == "opportunity")
        & (StageChange.entity_id == opp.id)
        & (StageChange.changed_at >= cutoff)
    )
    last_activity = fn.COALESCE(opp.last_contacted_at, opp.created_at)
    stale = [
        {"id": i, "name": n, "last_activity": last, "amount": a, "assignee": who}
        for i, n, last, a, who in opp.scoped(
            company_id,
            opp.id,
            opp.name,
            # SQLite hands a function's result back as text; read it as the column would be
            last_activity.python_value(opp.created_at.python_value),
            opp.amount,
            Member.name,
        )
        .join(Member, JOIN.LEFT_OUTER, on=(opp.assigned_to == Member.id))
        .where(open_deals & (last_activity < cutoff) & ~fn.EXISTS(recent_move))
        .order_by(last_activity, opp.id)
        .limit(LIST_LIMIT)
        .tuples()
    ]

    overdue = [
        {"member_id": mid, "name": name, "slack_user_id": uid, "count": count}
        for mid, name, uid, count in FollowUp.scoped(
            company_id, Member.id, Member.name, Member.slack_user_id, fn.COUNT(FollowUp.id)
        )
        .join(Member, on=(FollowUp.assigned_to == Member.id))
        .where(FollowUp.status.in_(OPEN_STATUSES) & (FollowUp.due_at <= now))
        .group_by(Member.id, Member.name, Member.slack_user_id)
        .order_by(fn.COUNT(FollowUp.id).desc(), Member.name)
        .tuples()
    ]
    slipping = [
        {"id": i, "name": n, "p_alive": p, "predicted_clv": v}
        for i, n, p, v in CustomerPrediction.scoped(
            company_id,
            Customer.id,
            Customer.name,
            CustomerPrediction.p_alive,
            CustomerPrediction.predicted_clv,
        )
        .join(Customer, on=(CustomerPrediction.customer == Customer.id))
        .where((CustomerPrediction.below_half_at >= since) & (CustomerPrediction.p_alive < 0.5))
        .order_by(CustomerPrediction.predicted_clv.desc(), Customer.id)
        .limit(LIST_LIMIT)
        .tuples()
    ]
    return WeeklyDigest(
        stages=stage_weeks(company_id, since),
        company_id=company_id,
        currency=company.currency,
        week=f"{year}-W{week:02d}",
        since=since,
        stage_moves=moves,
        stage_move_count=move_count,
        slipped=slipped,
        stale=stale,
        overdue_by_rep=overdue,
        slipping_customers=slipping,
        campaigns=campaign_service.last_week(Actor.system(company_id, "worker"), now),
    )


def stage_weeks(company_id: int, since: datetime) -> list[StageWeek]:
    """The open pipeline per stage now and at ``since``, the second rebuilt from history:
    a deal's stage then is the ``from`` of its first stage move after ``since``, its amount
    and probability the "before" of its first audited change of them after ``since``; deals
    created after ``since`` did not exist then. Reads the deals open now or touched this
    week, and this week's history only."""
    opp = Opportunity
    rows = list(
        opp.scoped(company_id, opp.id, opp.stage, opp.amount, opp.probability, opp.created_at)
        .where(opp.stage.in_(OPEN_STAGES) | (opp.updated_at >= since))
        .tuples()
    )
    ids = [r[0] for r in rows]
    first_stage: dict[int, str | None] = {}
    first_value: dict[tuple[int, str], object] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for entity_id, from_stage in (
            StageChange.scoped(company_id, StageChange.entity_id, StageChange.from_stage)
            .where(
                (StageChange.entity_type == "opportunity")
                & StageChange.entity_id.in_(part)
                & (StageChange.changed_at > since)
            )
            .order_by(StageChange.changed_at, StageChange.id)
            .tuples()
        ):
            first_stage.setdefault(entity_id, from_stage)
        for entity_id, changes in (
            AuditLog.scoped(company_id, AuditLog.entity_id, AuditLog.changes)
            .where(
                (AuditLog.entity_type == "opportunity")
                & AuditLog.entity_id.in_(part)
                & (AuditLog.created_at > since)
                & (AuditLog.action != "create")
            )
            .order_by(AuditLog.id)
            .tuples()
        ):
            for name in ("amount", "probability"):
                if isinstance(changes, dict) and name in changes:
                    first_value.setdefault((entity_id, name), changes[name][0])
    now: dict[str, list[Decimal]] = {s: [Decimal(0), Decimal(0), Decimal(0)] for s in OPEN_STAGES}
    then: dict[str, list[Decimal]] = {s: [Decimal(0), Decimal(0), Decimal(0)] for s in OPEN_STAGES}
    for oid, stage, amount, probability, created_at in rows:
        amount = Decimal(amount or 0)
        if stage in now:
            _add(now[stage], amount, probability)
        if created_at > since:
            continue
        stage_then = first_stage.get(oid, stage)
        if stage_then not in then:
            continue
        was_amount = first_value.get((oid, "amount"), amount)
        was_prob = first_value.get((oid, "probability"), probability)
        _add(then[stage_then], Decimal(str(was_amount or 0)), int(was_prob or 0))  # type: ignore[call-overload]
    cent = Decimal("0.01")
    return [
        StageWeek(
            s,
            int(now[s][0]),
            now[s][1],
            (now[s][2] / 100).quantize(cent),
            int(then[s][0]),
            then[s][1],
            (then[s][2] / 100).quantize(cent),
        )
        for s in OPEN_STAGES
    ]


def _add(totals: list[Decimal], amount: Decimal, probability: int | None) -> None:
    totals[0] += 1
    totals[1] += amount
    totals[2] += amount * (probability or 0)


def _moved_close_dates(
    company_id: int, since: datetime, listed: set[object]
) -> list[dict[str, object]]:
    """Open deals whose expected close date was pushed later (or dropped) this week: slipped
    as surely as a date that passed, only announced. ``moved_from`` is the date the deal had
    before its first move of the week."""
    opp = Opportunity
    moves = (
        CloseDateChange.scoped(
            company_id,
            opp.id,
            opp.name,
            opp.expected_close_date,
            opp.amount,
            Member.name,
            CloseDateChange.from_date,
            CloseDateChange.to_date,
        )
        .join(opp, on=(CloseDateChange.opportunity == opp.id))
        .join(Member, JOIN.LEFT_OUTER, on=(opp.assigned_to == Member.id))
        .where(
            (CloseDateChange.changed_at >= since)
            & (opp.company == company_id)
            & opp.stage.in_(OPEN_STAGES)
            & CloseDateChange.from_date.is_null(False)
        )
        .order_by(CloseDateChange.changed_at, CloseDateChange.id)
        .tuples()
    )
    first_from: dict[int, dict[str, object]] = {}
    for i, n, d, a, who, was, _to in moves:
        if i not in listed and i not in first_from:
            first_from[i] = {
                "id": i,
                "name": n,
                "expected_close_date": d,
                "amount": a,
                "assignee": who,
                "moved_from": was,
            }
    return [
        row
        for row in first_from.values()
        if row["expected_close_date"] is None or row["expected_close_date"] > row["moved_from"]  # type: ignore[operator]
    ][:LIST_LIMIT]


# --- the once-per-occasion claim ---------------------------------------------------------------


def claim_occasion(
    company_id: int, key: str, now: datetime, *, timeout: timedelta = OCCASION_TIMEOUT
) -> datetime | None:
    """Claim a digest occasion; returns the claim's time (the handle for finishing or
    releasing it), or ``None`` when it was sent or another sender holds a fresh claim."""
    now = now.replace(microsecond=0)
    try:
        with database.atomic():
            IdempotencyKey.create(
                company=company_id,
                key=key,
                entity_type="occasion",
                created_at=now,
                updated_at=now,
            )
        return now
    except IntegrityError:
        pass
    taken = (
        IdempotencyKey.scoped_update(company_id, updated_at=now)
        .where(
            (IdempotencyKey.key == key)
            & IdempotencyKey.change_id.is_null()
            & (IdempotencyKey.updated_at <= now - timeout)
        )
        .execute()
    )
    return now if taken == 1 else None


def finish_occasion(company_id: int, key: str, claimed_at: datetime) -> None:
    """The digest went out: the occasion is done for good."""
    IdempotencyKey.scoped_update(company_id, change_id=_SENT).where(
        (IdempotencyKey.key == key) & (IdempotencyKey.updated_at == claimed_at)
    ).execute()


def release_occasion(company_id: int, key: str, claimed_at: datetime) -> None:
    """The Slack call failed: forget the claim so the retry or the next scan sends it."""
    IdempotencyKey.scoped_delete(company_id).where(
        (IdempotencyKey.key == key)
        & IdempotencyKey.change_id.is_null()
        & (IdempotencyKey.updated_at == claimed_at)
    ).execute()
