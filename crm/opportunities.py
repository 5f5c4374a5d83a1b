"""Opportunities (deals) and their stage history.

Every stage move writes a :class:`~crm.models.StageChange` in the same change as the move,
reported to the audit trail, so analytics read what happened (cycle lengths, win rates) instead
of guessing from current fields, and an Undo of a move also removes its history row.

Stage rules (decided here, relied on by the Slack and API adapters):

- open stages (prospecting .. negotiation) move freely among themselves (:func:`move_stage`);
- ``closed_won`` and ``closed_lost`` are reached only through :func:`mark_won` (which records
  the purchase as an Order) and :func:`mark_lost` (which needs a reason), never by a plain
  move, so a deal cannot be "won" without its order or "lost" without a reason;
- a *lost* deal can be reopened to an open stage (customers come back); a *won* deal cannot,
  because its order exists: a mistaken win is undone with the Undo button (which removes the
  order too), a cancelled purchase is a new fact, not a reopened deal;
- closing sets the probability to 100/0 and forgets an explicit estimate; reopening starts from
  the stage default again (an estimate made before the loss says nothing about the new deal).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crm import idempotency, permissions
from crm.acting import Actor
from crm.audit import ChangeSet, change, snapshot
from crm.clock import to_local, to_utc, utcnow
from crm.errors import Conflict, NotFound, ValidationError, cleaned, cleaned_fields
from crm.models import (
    CLOSED_STAGES,
    OPEN_STAGES,
    OPPORTUNITY_STAGES,
    STAGE_PROBABILITY,
    AuditLog,
    CloseDateChange,
    Customer,
    Lead,
    Member,
    Opportunity,
)
from crm.parsing import check_text, parse_choice, parse_date, parse_money, parse_percent
from crm.tenancy import fetch, fetch_for_update, fetch_member, ref_label

__all__ = [
    "ACTOR_DEFAULT",
    "UPDATABLE_FIELDS",
    "as_dict",
    "create_opportunity",
    "default_probability",
    "get_opportunity",
    "list_opportunities",
    "mark_lost",
    "mark_won",
    "move_stage",
    "update_opportunity",
    "weighted_amount",
]

MAX_LIST = 200
HUNDRED = Decimal(100)
WEIGHTED_PLACES = Decimal("0.0001")


class _Default(enum.Enum):
    ACTOR = "the acting member"


ACTOR_DEFAULT = _Default.ACTOR
"""``assigned_to_id`` default of :func:`create_opportunity`: the acting member (``None`` for API
tokens and the system). Passing ``None`` explicitly leaves the deal unassigned."""


# --- pure rules --------------------------------------------------------------------------------


def weighted_amount(amount: Decimal, probability: int) -> Decimal:
    """Rule 2: amount × probability / 100, exact (no rounding: 10.01 at 25% is 2.5025).

    Pipeline totals sum ``amount_cents * probability`` in SQL and divide once, so the sum of
    these values and the pipeline's weighted total agree to the last digit.
    """
    if isinstance(probability, bool) or not isinstance(probability, int):
        raise ValidationError("probability", f"{probability!r} is not a whole number", hint="40")
    if not 0 <= probability <= 100:
        raise ValidationError("probability", f"{probability} is not between 0 and 100", hint="40")
    exact = Decimal(amount) * probability / HUNDRED
    # four places, like the pipeline's sums, so equal values also print alike ("6000.2500")
    return exact.quantize(WEIGHTED_PLACES) if exact.as_tuple().exponent > -4 else exact


def default_probability(stage: str) -> int:
    """The probability a stage implies when nobody gave one (SPEC 3: 10/25/50/75/100/0)."""
    return STAGE_PROBABILITY[parse_choice(stage, "stage", OPPORTUNITY_STAGES)]


# --- validation helpers --------------------------------------------------------------------------


def _name(value: Any) -> str:
    if isinstance(value, str):
        check_text(value, "name", hint='name="Acme renewal"')
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError("name", "a name is required", hint='name="Acme renewal"')
    if len(text) > 200:
        raise ValidationError("name", "is longer than 200 characters", hint="a shorter name")
    return text


def _open_stage(value: Any) -> str:
    stage = parse_choice(value, "stage", OPPORTUNITY_STAGES)
    if stage in CLOSED_STAGES:
        verb = "won" if stage == "closed_won" else "lost"
        raise ValidationError(
            "stage",
            f"a deal becomes {stage} only by marking it {verb}",
            hint=f"one of {', '.join(OPEN_STAGES)}, or the {verb} action",
        )
    return stage


def _member_id(actor: Actor, value: Any, field: str = "assigned_to") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotFound(f"{field}: that member was not found in this workspace")
    member = fetch_member(actor, value, field)
    return member.id if member else None


def _expected_close(value: Any, actor: Actor) -> date | None:
    return None if value is None else parse_date(value, "expected_close_date", actor.tz)


def _today(actor: Actor) -> date:
    return _local_date(utcnow(), actor.tz)


def _local_date(moment: datetime, tz: str) -> date:
    """The calendar date of a naive-UTC moment in ``tz`` (a win "today" is the rep's today)."""
    return to_local(moment, tz or "UTC").date()


def _locked(actor: Actor, opp_id: int) -> Opportunity:
    return fetch_for_update(Opportunity, actor, opp_id, "opportunity")


def _label(opp: Opportunity) -> str:
    return ref_label("opportunity", opp.id)


# --- use cases -----------------------------------------------------------------------------------


def _one_subject(customer_id: int | None, lead_id: int | None) -> None:
    if (customer_id is None) == (lead_id is None):
        raise ValidationError(
            "customer", "give exactly one customer or lead", hint="customer=C3 or lead=L12"
        )


def create_opportunity(
    actor: Actor,
    *,
    name: str,
    customer_id: int | None = None,
    lead_id: int | None = None,
    amount: Decimal,
    probability: int | None = None,
    stage: str = "prospecting",
    expected_close_date: date | None = None,
    assigned_to_id: int | _Default | None = ACTOR_DEFAULT,
    idempotency_key: str | None = None,
) -> Opportunity:
    """A new deal for exactly one customer or lead of the actor's company, in an open stage.

    ``probability=None`` follows the stage (and keeps following it across moves); an explicit
    probability is the rep's own estimate and stays put when the stage moves. A repeated
    ``idempotency_key`` (a Slack view id, an API Idempotency-Key) returns the first result.
    """
    explicit = probability is not None
    given = cleaned(
        name=lambda: _name(name),
        amount=lambda: parse_money(amount, "amount"),
        stage=lambda: _open_stage(stage),
        probability=lambda: parse_percent(probability, "probability") if explicit else None,
        expected_close_date=lambda: _expected_close(expected_close_date, actor),
        subject=lambda: _one_subject(customer_id, lead_id),
    )
    name, amount, stage = given["name"], given["amount"], given["stage"]
    prob = given["probability"] if explicit else STAGE_PROBABILITY[stage]
    expected_close_date = given["expected_close_date"]

    def create() -> Opportunity:
        with change(actor) as ch:
            if customer_id is not None:
                customer, lead = fetch(Customer, actor, customer_id, "customer").id, None
            else:
                customer, lead = None, fetch(Lead, actor, lead_id, "lead").id
            assignee = _member_id(
                actor, actor.member_id if assigned_to_id is ACTOR_DEFAULT else assigned_to_id
            )
            opp = Opportunity.create(
                company=actor.company_id,
                name=name,
                customer=customer,
                lead=lead,
                amount=amount,
                probability=prob,
                probability_explicit=explicit,
                stage=stage,
                expected_close_date=expected_close_date,
                assigned_to=assignee,
            )
            ch.created_at_stage(opp, opp.stage)
        opp.change_id = ch.change_id
        return opp

    return idempotency.once(actor, idempotency_key, Opportunity, create)[0]


def get_opportunity(actor: Actor, opp_id: int) -> Opportunity:
    return fetch(Opportunity, actor, opp_id, "opportunity")


def list_opportunities(
    actor: Actor,
    *,
    stage: str | None = None,
    assigned_to_id: int | None = None,
    open_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[Opportunity]:
    """The company's deals, newest first; reps read everything of their company (SPEC 10)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise ValidationError("limit", f"must be 1-{MAX_LIST}", hint="limit=50")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset", "must be 0 or more", hint="offset=50")
    query = Opportunity.scoped(actor)
    if stage is not None:
        query = query.where(Opportunity.stage == parse_choice(stage, "stage", OPPORTUNITY_STAGES))
    if open_only:
        query = query.where(Opportunity.stage.in_(OPEN_STAGES))
    if assigned_to_id is not None:
        if isinstance(assigned_to_id, bool) or not isinstance(assigned_to_id, int):
            raise NotFound("assigned_to: that member was not found in this workspace")
        member = Member.scoped(actor).where(Member.id == assigned_to_id).first()
        if member is None:
            raise NotFound("assigned_to: that member was not found in this workspace")
        query = query.where(Opportunity.assigned_to == member.id)
    return list(query.order_by(Opportunity.id.desc()).limit(limit).offset(offset))


UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "amount",
        "probability",
        "stage",
        "expected_close_date",
        "assigned_to_id",
        "customer_id",
        "lead_id",
        "loss_reason",
    }
)


def update_opportunity(actor: Actor, opp_id: int, **fields: Any) -> Opportunity:
    """The API's PATCH: change any of :data:`UPDATABLE_FIELDS` in one change. Every given
    field's form is checked first, so a body with several bad fields names them all.

    ``probability=None`` returns the deal to its stage default. ``stage`` follows the same
    rules as :func:`move_stage` (a move to a closed stage goes through the won/lost actions);
    a won deal's amount is fixed by its order, and a closed deal's probability by its outcome.
    """
    unknown = sorted(set(fields) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            unknown[0], "cannot be changed here", hint=", ".join(sorted(UPDATABLE_FIELDS))
        )
    parsers: dict[str, Callable[[Any], Any]] = {
        "name": _name,
        "amount": lambda v: parse_money(v, "amount"),
        "expected_close_date": lambda v: _expected_close(v, actor),
        "stage": lambda v: parse_choice(v, "stage", OPPORTUNITY_STAGES),
        "loss_reason": _reason,
        "probability": lambda v: None if v is None else parse_percent(v, "probability"),
    }
    given = cleaned_fields(parsers, fields)
    with change(actor) as ch:
        opp = _locked(actor, opp_id)
        permissions.require_edit(actor, opp, _label(opp))
        before = snapshot(opp)
        closed = opp.stage in CLOSED_STAGES
        if "name" in given:
            opp.name = given["name"]
        if "amount" in given:
            if opp.stage == "closed_won":
                raise Conflict(f"{_label(opp)} is won; its amount is the amount of its order")
            opp.amount = given["amount"]
        if "expected_close_date" in given:
            opp.expected_close_date = given["expected_close_date"]
        if "assigned_to_id" in fields:
            opp.assigned_to = _member_id(actor, fields["assigned_to_id"])
        if "customer_id" in fields:
            cid = fields["customer_id"]
            opp.customer = fetch(Customer, actor, cid, "customer").id if cid is not None else None
        if "lead_id" in fields:
            lid = fields["lead_id"]
            opp.lead = fetch(Lead, actor, lid, "lead").id if lid is not None else None
        if opp.customer_id is None and opp.lead_id is None:
            raise ValidationError(
                "customer", "a deal needs a customer or a lead", hint="customer=C3 or lead=L12"
            )
        if "loss_reason" in given:
            if opp.stage != "closed_lost":
                raise ValidationError("loss_reason", "only a lost deal has a loss reason")
            opp.loss_reason = given["loss_reason"]
        if "stage" in given and given["stage"] != opp.stage:
            _move(ch, actor, opp, _open_stage(given["stage"]))
            closed = False
        if "probability" in given:
            if closed:
                raise Conflict(f"{_label(opp)} is closed; its probability is its outcome")
            _set_probability(opp, given["probability"])
        opp.save()
        ch.updated(opp, before)
        _record_close_date_move(ch, actor, opp, before["expected_close_date"])
    opp.change_id = ch.change_id
    return opp


def _record_close_date_move(ch: ChangeSet, actor: Actor, opp: Opportunity, was: str | None) -> None:
    """A moved expected close date is history the digest reads (slipped this week), kept in
    the same change so that Undo takes it back with the move."""
    now = opp.expected_close_date
    if (now.isoformat() if now else None) == was:
        return
    row = CloseDateChange.create(
        company=actor.company_id,
        opportunity=opp.id,
        from_date=date.fromisoformat(was) if was else None,
        to_date=now,
        changed_at=utcnow(),
        actor=actor.member_id,
    )
    ch.created(row)


def _set_probability(opp: Opportunity, value: Any) -> None:
    if value is None:
        opp.probability, opp.probability_explicit = STAGE_PROBABILITY[opp.stage], False
    else:
        opp.probability, opp.probability_explicit = parse_percent(value, "probability"), True


def _move(ch: ChangeSet, actor: Actor, opp: Opportunity, stage: str) -> None:
    """Move to an open stage (the caller saves and reports the opportunity)."""
    if opp.stage == "closed_won":
        raise Conflict(
            f"{_label(opp)} is won and has an order; it cannot be reopened "
            "(Undo reverts a mistaken win)"
        )
    previous = opp.stage
    if previous == "closed_lost":
        opp.loss_reason = None
        opp.actual_close_date = None
        opp.probability_explicit = False
    opp.stage = stage
    if not opp.probability_explicit:
        opp.probability = STAGE_PROBABILITY[stage]
    ch.stage_moved("opportunity", opp.id, previous, opp.stage)


def move_stage(actor: Actor, opp_id: int, stage: str) -> Opportunity:
    """Move a deal between open stages, or reopen a lost one. Moving to the stage it is already
    in changes nothing and returns ``change_id = None`` (a double-clicked button is harmless)."""
    target = _open_stage(stage)
    with change(actor) as ch:
        opp = _locked(actor, opp_id)
        permissions.require_edit(actor, opp, _label(opp))
        if opp.stage == target:
            opp.change_id = None
            return opp
        before = snapshot(opp)
        _move(ch, actor, opp, target)
        opp.save()
        ch.updated(opp, before)
    opp.change_id = ch.change_id
    return opp


def _reason(value: Any) -> str:
    if isinstance(value, str):
        check_text(value, "reason", hint='reason="price"')
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError("reason", "say why the deal was lost", hint='reason="price"')
    if len(text) > 500:
        raise ValidationError("reason", "is longer than 500 characters", hint="a shorter reason")
    return text


def _close_date(actor: Actor, opp: Opportunity, value: Any) -> date:
    today = _today(actor)
    if value is None:
        return today
    day = parse_date(value, "close_date", actor.tz)
    if day > today:
        raise ValidationError("close_date", "a deal cannot close in the future", hint="today")
    if day < _local_date(opp.created_at, actor.tz):
        raise ValidationError(
            "close_date", "is before the deal was created", hint="a date after it was created"
        )
    return day


def mark_won(
    actor: Actor, opp_id: int, *, amount: Decimal | None = None, close_date: date | None = None
) -> Opportunity:
    """Close a deal as won and record the purchase as an Order of its customer.

    A deal on a lead converts the lead first (or uses the customer it already became). The
    order carries ``external_ref = "opportunity:<id>"``, unique per company, so a deal can
    never produce two orders; winning a won deal is refused with :class:`Conflict`. The order is
    dated now when the deal closes today, else at noon (actor's time) of ``close_date``. All of
    it is one change: Undo reverts the stage, the history row, the order and a conversion.
    """
    from crm.customers import add_order
    from crm.leads import convert_lead

    if amount is not None:
        amount = parse_money(amount, "amount")
    with change(actor) as ch:
        opp = _locked(actor, opp_id)
        permissions.require_edit(actor, opp, _label(opp))
        if opp.stage == "closed_won":
            raise Conflict(f"{_label(opp)} is already won")
        day = _close_date(actor, opp, close_date)
        existing = None
        if opp.customer_id is None:
            existing = Customer.scoped(actor).where(Customer.lead == opp.lead_id).first()
            if existing is None:
                # conversion attaches the lead's deals (this one too) to the new customer and
                # audits that itself; our snapshot follows it, so Undo unwinds both in order
                opp.customer = _join(ch, convert_lead(actor, opp.lead_id)).id
        before = snapshot(opp)
        if existing is not None:
            opp.customer = existing.id
        if amount is not None:
            opp.amount = amount
        if opp.amount <= 0:
            raise ValidationError(
                "amount", "a won deal needs its amount: it becomes an order", hint="amount=12k"
            )
        previous = opp.stage
        opp.stage, opp.probability, opp.probability_explicit = "closed_won", 100, False
        opp.actual_close_date, opp.loss_reason = day, None
        opp.save()
        ch.updated(opp, before)
        ch.stage_moved("opportunity", opp.id, previous, opp.stage)
        now = utcnow()
        ordered_at = now if day == _today(actor) else _noon_utc(day, actor.tz)
        _join(
            ch,
            add_order(
                actor,
                opp.customer_id,
                amount=opp.amount,
                ordered_at=ordered_at,
                external_ref=f"opportunity:{opp.id}",
                opportunity_id=opp.id,
            ),
        )
    opp.change_id = ch.change_id
    return opp


def _noon_utc(day: date, tz: str) -> datetime:
    return to_utc(datetime.combine(day, time(12), tzinfo=ZoneInfo(tz or "UTC")))


def _join(ch: ChangeSet, record: Any) -> Any:
    """Fold a nested use case's audit rows into this change, so one Undo reverts all of it.

    ``convert_lead`` and ``add_order`` open their own change inside our transaction (a
    savepoint); their rows are not committed yet, so re-labelling them edits no history.
    """
    nested = getattr(record, "change_id", None)
    if nested and nested != ch.change_id:
        AuditLog.scoped_update(ch.actor, change_id=ch.change_id).where(
            AuditLog.change_id == nested
        ).execute()
        record.change_id = ch.change_id
    return record


def mark_lost(actor: Actor, opp_id: int, *, reason: str) -> Opportunity:
    """Close a deal as lost; the reason is required (win/loss analysis ranks them). A won deal
    cannot be marked lost (its order stands; Undo reverts a mistaken win)."""
    reason = _reason(reason)
    with change(actor) as ch:
        opp = _locked(actor, opp_id)
        permissions.require_edit(actor, opp, _label(opp))
        if opp.stage == "closed_won":
            raise Conflict(f"{_label(opp)} is won and has an order; Undo reverts a mistaken win")
        if opp.stage == "closed_lost":
            raise Conflict(f"{_label(opp)} is already lost")
        before = snapshot(opp)
        previous = opp.stage
        opp.stage, opp.probability, opp.probability_explicit = "closed_lost", 0, False
        opp.actual_close_date, opp.loss_reason = _today(actor), reason
        opp.save()
        ch.updated(opp, before)
        ch.stage_moved("opportunity", opp.id, previous, opp.stage)
    opp.change_id = ch.change_id
    return opp


def as_dict(opp: Opportunity) -> dict[str, Any]:
    """JSON-ready form for the API (money as strings, so nothing passes through float)."""
    return {
        "id": opp.id,
        "ref": _label(opp),
        "name": opp.name,
        "customer_id": opp.customer_id,
        "lead_id": opp.lead_id,
        "amount": str(opp.amount),
        "probability": opp.probability,
        "probability_explicit": opp.probability_explicit,
        "weighted_amount": str(weighted_amount(opp.amount, opp.probability)),
        "stage": opp.stage,
        "expected_close_date": _iso(opp.expected_close_date),
        "actual_close_date": _iso(opp.actual_close_date),
        "assigned_to_id": opp.assigned_to_id,
        "loss_reason": opp.loss_reason,
        "last_contacted_at": _iso(opp.last_contacted_at),
        "created_at": _iso(opp.created_at),
        "updated_at": _iso(opp.updated_at),
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
