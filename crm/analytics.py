"""Pipeline analytics (SPEC 7): read-only, set-based SQL, computed from stage history.

Three questions, one function each:

- :func:`pipeline_summary`: what is open now, per stage (count, amount, weighted amount);
- :func:`win_loss`: of the deals closed in a period, how many and how much was won, by member
  and by lead source, why deals were lost, and how long won and lost deals took;
- :func:`velocity`: open deals × average won deal × win rate ÷ average sales cycle, money/day.

"Closed in the period" and cycle lengths come from :class:`~crm.models.StageChange`, not from
current fields: a deal's outcome is its *latest* stage change at ``now`` (so a lost deal that
was reopened does not count as lost, and asking about a past ``now`` sees the past), and its
cycle runs from its creation row to that closing row. Each function runs a fixed number of
grouped queries whatever the number of deals; Python only folds the grouped rows.

Scope: reps see their own numbers; another member's or the team's need
``team_analytics`` (managers, admins, API tokens, the system). Actors without a member (tokens,
the system) default to the team.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from peewee import JOIN, SQL, Case, NodeList, fn

from crm import permissions
from crm.acting import Actor
from crm.clock import utcnow
from crm.db import is_postgres
from crm.errors import NotFound, ValidationError
from crm.models import CLOSED_STAGES, OPEN_STAGES, Customer, Lead, Member, Opportunity, StageChange
from crm.sql_cache import Statement

__all__ = [
    "GroupStats",
    "LossReason",
    "PipelineSummary",
    "StageTotals",
    "Velocity",
    "WinLoss",
    "pipeline_summary",
    "velocity",
    "win_loss",
]

MAX_PERIOD_DAYS = 3650
TOP_LOSS_REASONS = 5
DAY_SECONDS = 86400
CENT = Decimal("0.01")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money as strings (never through float), dates ISO 8601."""
        return _jsonable(asdict(self))  # type: ignore[call-overload]


# --- scope ---------------------------------------------------------------------------------------


def _scope(actor: Actor, member_id: int | None, team: bool) -> int | None:
    """The member whose numbers to show, or ``None`` for the whole team."""
    if team and member_id is not None:
        raise ValidationError("team", "choose either one member or the team", hint="mine or team")
    if team or (member_id is None and actor.member_id is None):
        permissions.require(actor, "team_analytics")
        return None
    if member_id is None or member_id == actor.member_id:
        return actor.member_id
    permissions.require(actor, "team_analytics")
    if isinstance(member_id, bool) or not isinstance(member_id, int):
        raise NotFound("member: that member was not found in this workspace")
    # inactive members stay visible: their past deals are still the team's history
    if not Member.scoped(actor).where(Member.id == member_id).exists():
        raise NotFound("member: that member was not found in this workspace")
    return member_id


def _period(value: int | None, field_name: str = "period") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field_name, f"{value!r} is not a number of days", hint="90")
    if not 1 <= value <= MAX_PERIOD_DAYS:
        raise ValidationError(field_name, f"must be 1-{MAX_PERIOD_DAYS} days", hint="90")
    return value


def _cents(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(CENT)


def _rate(part: Fraction | int, whole: Fraction | int) -> float | None:
    return float(Fraction(part) / Fraction(whole)) if whole else None


# --- pipeline ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTotals(_AsDict):
    stage: str
    count: int
    amount: Decimal
    weighted_amount: Decimal  # exact: sum(amount × probability) / 100


@dataclass(frozen=True)
class PipelineSummary(_AsDict):
    member_id: int | None  # None: the whole team
    period_days: int | None  # only deals created in the last N days; None: all open deals
    stages: tuple[StageTotals, ...]  # every open stage, in pipeline order, zeros included
    count: int
    amount: Decimal
    weighted_amount: Decimal


def pipeline_summary(
    actor: Actor,
    *,
    member_id: int | None = None,
    team: bool = False,
    period_days: int | None = None,
    now: datetime | None = None,
) -> PipelineSummary:
    """Open deals per stage, one grouped query on the (company, stage) or
    (company, assigned_to, stage) index. ``period_days`` is a look-back (like every
    analytics period): only deals created within it."""
    scope = _scope(actor, member_id, team)
    period_days = _period(period_days)
    since = None if period_days is None else (now or utcnow()) - timedelta(days=period_days)
    rows = _pipeline_rows(actor.company_id, scope, since)
    found = {stage: (n, cents, weighted) for stage, n, cents, weighted in rows}
    stages = []
    for stage in OPEN_STAGES:
        n, cents, weighted = found.get(stage, (0, 0, 0))
        stages.append(StageTotals(stage, int(n), _cents(cents), _weighted(weighted)))
    return PipelineSummary(
        member_id=scope,
        period_days=period_days,
        stages=tuple(stages),
        count=sum(s.count for s in stages),
        amount=sum((s.amount for s in stages), Decimal("0.00")),
        weighted_amount=_weighted(sum(int(v[2] or 0) for v in found.values())),
    )


def _pipeline_query(company_id: int, scope: int | None, since: datetime | None) -> Any:
    o = Opportunity
    query = (
        o.scoped(
            company_id,
            o.stage,
            fn.COUNT(o.id).coerce(False),
            fn.SUM(o.amount).coerce(False),
            fn.SUM(o.amount * o.probability).coerce(False),
        )
        .where(o.stage.in_(OPEN_STAGES))
        .group_by(o.stage)
    )
    if scope is not None:
        query = query.where(o.assigned_to == scope)
    if since is not None:
        query = query.where(o.created_at >= since)
    return query


# rendered once per shape (member filter? period filter?), prepared on PostgreSQL: peewee
# writing it costs more than the query itself on a rep's small pipeline (bench/pipeline.py)
_PIPELINE = Statement(_pipeline_query)


def _pipeline_rows(company_id: int, scope: int | None, since: datetime | None) -> list[Any]:
    return _PIPELINE.execute(company_id=company_id, scope=scope, since=since).fetchall()


def _weighted(cents_times_percent: Any) -> Decimal:
    """cents × percent → money, exactly (four decimal places)."""
    return Decimal(int(cents_times_percent or 0)).scaleb(-4)


# --- closed deals from history -------------------------------------------------------------------


def _seconds_between(start: Any, end: Any) -> Any:
    if is_postgres():
        return fn.EXTRACT(NodeList((SQL("EPOCH FROM"), end - start)))
    return (fn.julianday(end) - fn.julianday(start)) * DAY_SECONDS


def _latest_changes(actor: Actor, now: datetime, entity_ids: Any = None) -> Any:
    """Each opportunity's latest stage change at ``now`` (its state then), as a subquery."""
    sc = StageChange
    rank = fn.ROW_NUMBER().over(
        partition_by=[sc.entity_id], order_by=[sc.changed_at.desc(), sc.id.desc()]
    )
    query = sc.scoped(actor, sc.entity_id, sc.to_stage, sc.changed_at, rank.alias("rn")).where(
        (sc.entity_type == "opportunity") & (sc.changed_at <= now)
    )
    if entity_ids is not None:
        query = query.where(sc.entity_id.in_(entity_ids))
    return query


@dataclass
class _Closed:
    """One grouped row of closed deals: (outcome, member, source, loss reason)."""

    won: bool
    member_id: int | None
    source: str
    reason: str | None
    count: int
    cents: int
    cycle_seconds: float


def _closed_deals(actor: Actor, scope: int | None, start: datetime, now: datetime) -> list[_Closed]:
    """Deals whose latest change at ``now`` closed them on or after ``start``, grouped."""
    sc = StageChange.alias("closing")
    closing_ids = sc.scoped(actor, sc.entity_id).where(
        (sc.entity_type == "opportunity")
        & sc.to_stage.in_(CLOSED_STAGES)
        & (sc.changed_at >= start)
        & (sc.changed_at <= now)
    )
    latest = _latest_changes(actor, now, closing_ids).alias("latest")
    created_sc = StageChange.alias("created_sc")
    created = (
        created_sc.scoped(actor, created_sc.entity_id, fn.MIN(created_sc.changed_at).alias("at"))
        .where(
            (created_sc.entity_type == "opportunity")
            & created_sc.from_stage.is_null()
            & created_sc.entity_id.in_(closing_ids)
        )
        .group_by(created_sc.entity_id)
        .alias("created")
    )
    o = Opportunity
    own_lead, customer_lead = Lead.alias("own_lead"), Lead.alias("customer_lead")
    source = fn.COALESCE(own_lead.source, customer_lead.source, "unknown")
    won = Case(None, [(latest.c.to_stage == "closed_won", 1)], 0)
    opened_at = fn.COALESCE(created.c.at, o.created_at)
    query = (
        o.scoped(
            actor,
            won.alias("won"),
            o.assigned_to,
            source.alias("source"),
            o.loss_reason,
            fn.COUNT(o.id).coerce(False),
            fn.SUM(o.amount).coerce(False),
            fn.SUM(_seconds_between(opened_at, latest.c.changed_at)).coerce(False),
        )
        .join(latest, on=(latest.c.entity_id == o.id))
        .join_from(o, created, on=(created.c.entity_id == o.id), join_type=JOIN.LEFT_OUTER)
        .join_from(o, own_lead, on=(own_lead.id == o.lead), join_type=JOIN.LEFT_OUTER)
        .join_from(o, Customer, on=(Customer.id == o.customer), join_type=JOIN.LEFT_OUTER)
        .join_from(
            Customer,
            customer_lead,
            on=(customer_lead.id == Customer.lead),
            join_type=JOIN.LEFT_OUTER,
        )
        .where(
            (latest.c.rn == 1)
            & latest.c.to_stage.in_(CLOSED_STAGES)
            & (latest.c.changed_at >= start)
        )
        .group_by(won, o.assigned_to, source, o.loss_reason)
    )
    if scope is not None:
        query = query.where(o.assigned_to == scope)
    return [
        _Closed(bool(w), m, s, r, int(n), int(c or 0), round(float(secs or 0)))
        for w, m, s, r, n, c, secs in query.tuples()
    ]


def _open_count(actor: Actor, scope: int | None, now: datetime) -> int:
    """Deals open at ``now`` according to history (their latest change is to an open stage)."""
    latest = _latest_changes(actor, now).alias("latest")
    o = Opportunity
    query = (
        o.scoped(actor, fn.COUNT(o.id).coerce(False))
        .join(latest, on=(latest.c.entity_id == o.id))
        .where((latest.c.rn == 1) & latest.c.to_stage.in_(OPEN_STAGES))
    )
    if scope is not None:
        query = query.where(o.assigned_to == scope)
    return int(query.scalar() or 0)


def _window(period_days: int, now: datetime | None) -> tuple[datetime, datetime]:
    end = now or utcnow()
    return end - timedelta(days=_period(period_days) or 90), end


# --- win/loss ------------------------------------------------------------------------------------


@dataclass
class GroupStats(_AsDict):
    """Won and lost deals of one group (the whole scope, a member, a lead source)."""

    key: str | int | None  # member id, lead source, or None for the total
    label: str
    won_count: int = 0
    lost_count: int = 0
    won_amount: Decimal = Decimal("0.00")
    lost_amount: Decimal = Decimal("0.00")
    win_rate_count: float | None = None  # won ÷ (won + lost); None when nothing closed
    win_rate_value: float | None = None  # won amount ÷ closed amount
    won_cycle_seconds: float = field(default=0.0, repr=False)
    lost_cycle_seconds: float = field(default=0.0, repr=False)

    def add(self, row: _Closed) -> None:
        money = _cents(row.cents)
        if row.won:
            self.won_count += row.count
            self.won_amount += money
            self.won_cycle_seconds += row.cycle_seconds
        else:
            self.lost_count += row.count
            self.lost_amount += money
            self.lost_cycle_seconds += row.cycle_seconds
        self.win_rate_count = _rate(self.won_count, self.won_count + self.lost_count)
        closed = Fraction(self.won_amount + self.lost_amount)
        self.win_rate_value = _rate(Fraction(self.won_amount), closed) if closed else None


@dataclass(frozen=True)
class LossReason(_AsDict):
    reason: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class WinLoss(_AsDict):
    member_id: int | None
    period_days: int
    start: datetime
    end: datetime
    total: GroupStats
    by_member: tuple[GroupStats, ...]  # most won value first; key None = unassigned
    by_source: tuple[GroupStats, ...]  # lead source, "unknown" without a lead
    top_loss_reasons: tuple[LossReason, ...]  # most frequent first (case-insensitive)
    avg_cycle_days_won: float | None
    avg_cycle_days_lost: float | None


def win_loss(
    actor: Actor,
    *,
    member_id: int | None = None,
    team: bool = False,
    period_days: int = 90,
    now: datetime | None = None,
) -> WinLoss:
    """Win rates (by count and by value) of the deals closed in the last ``period_days``."""
    scope = _scope(actor, member_id, team)
    start, end = _window(period_days, now)
    rows = _closed_deals(actor, scope, start, end)
    total = GroupStats(None, "total")
    members: dict[int | None, GroupStats] = {}
    sources: dict[str, GroupStats] = {}
    reasons: dict[str, list[Any]] = {}  # casefolded -> [spellings, count, cents]
    for row in rows:
        total.add(row)
        members.setdefault(row.member_id, GroupStats(row.member_id, "")).add(row)
        sources.setdefault(row.source, GroupStats(row.source, row.source)).add(row)
        if not row.won:
            text = (row.reason or "").strip() or "no reason given"
            entry = reasons.setdefault(text.casefold(), [{}, 0, 0])
            entry[0][text] = entry[0].get(text, 0) + row.count
            entry[1] += row.count
            entry[2] += row.cents
    names = dict(
        Member.scoped(actor, Member.id, Member.name)
        .where(Member.id.in_([m for m in members if m]))
        .tuples()
    )
    for key, stats in members.items():
        stats.label = names.get(key, "unassigned") if key else "unassigned"

    def order(s: GroupStats) -> tuple[Any, ...]:
        return (-s.won_amount, -s.won_count, s.label)

    # shown in the spelling most used (alphabetically first on a tie), so output is stable
    top = sorted(
        ((min(sp, key=lambda t: (-sp[t], t)), n, c) for sp, n, c in reasons.values()),
        key=lambda e: (-e[1], -e[2], e[0].casefold()),
    )
    return WinLoss(
        member_id=scope,
        period_days=period_days,
        start=start,
        end=end,
        total=total,
        by_member=tuple(sorted(members.values(), key=order)),
        by_source=tuple(sorted(sources.values(), key=order)),
        top_loss_reasons=tuple(
            LossReason(text, n, _cents(c)) for text, n, c in top[:TOP_LOSS_REASONS]
        ),
        avg_cycle_days_won=_days(total.won_cycle_seconds, total.won_count),
        avg_cycle_days_lost=_days(total.lost_cycle_seconds, total.lost_count),
    )


def _days(seconds: float, count: int) -> float | None:
    return round(seconds / count / DAY_SECONDS, 4) if count else None


# --- velocity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Velocity(_AsDict):
    """Money per day the pipeline is expected to turn into won deals, with its components."""

    member_id: int | None
    period_days: int
    open_count: int  # open at ``end``, per stage history
    won_count: int
    lost_count: int
    average_won_amount: Decimal | None  # None: nothing won in the period
    win_rate: float | None  # by count
    average_cycle_days: float | None  # of won deals: creation to win
    per_day: Decimal  # 0 when nothing was won


def velocity(
    actor: Actor,
    *,
    member_id: int | None = None,
    team: bool = False,
    period_days: int = 90,
    now: datetime | None = None,
) -> Velocity:
    """Pipeline velocity over the deals closed in the last ``period_days``.

    The cycle is that of *won* deals (how long winning takes; a loss converts nothing into
    money). A cycle under a day counts as one day in the division, so a deal created and won
    within an hour does not claim that the pipeline turns into money 24 times a day.
    """
    scope = _scope(actor, member_id, team)
    start, end = _window(period_days, now)
    total = GroupStats(None, "total")
    for row in _closed_deals(actor, scope, start, end):
        total.add(row)
    open_count = _open_count(actor, scope, end)
    won, lost = total.won_count, total.lost_count
    per_day = Decimal("0.00")
    average = None
    if won:
        average = (total.won_amount / won).quantize(CENT, ROUND_HALF_UP)
        cycle_days = max(Fraction(total.won_cycle_seconds) / won / DAY_SECONDS, Fraction(1))
        exact = (
            open_count * Fraction(total.won_amount) / won * Fraction(won, won + lost) / cycle_days
        )
        per_day = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            CENT, ROUND_HALF_UP
        )
    return Velocity(
        member_id=scope,
        period_days=period_days,
        open_count=open_count,
        won_count=won,
        lost_count=lost,
        average_won_amount=average,
        win_rate=_rate(won, won + lost),
        average_cycle_days=_days(total.won_cycle_seconds, won),
        per_day=per_day,
    )
