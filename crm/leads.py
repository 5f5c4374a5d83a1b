"""Leads: creation (with duplicate check and idempotency), the status workflow, conversion.

Status workflow (SPEC 3: new -> contacted -> qualified -> won/lost):
- forward moves, skips allowed: ``new`` may go straight to ``qualified`` or ``won`` (deals do
  close on the first call);
- any open status (new, contacted, qualified) may go to ``lost``, with a required reason;
- ``won`` is final; ``lost`` may only be reopened to ``contacted`` (the prospect came back),
  which clears the lost reason (the audit log keeps it);
- no backward moves between open statuses: a mistaken move is undone with Undo (10 minutes),
  so the stage history stays a history of real progress;
- moving to the status the lead already has is a no-op (no audit row, no StageChange,
  ``change_id`` is ``None``), so a double-clicked button does not fail.
Every move writes a :class:`StageChange` (creation writes ``None -> "new"``) with actor and
time, reported to the change set so that Undo removes it too.

Conversion (rule 1) happens once: a conditional ``UPDATE ... WHERE converted_at IS NULL`` is
the first statement of the use case (the unique ``Customer.lead`` backs it up). It copies
name, email, phone, company name, tags, assignee and last contact to a new customer, moves the
lead to ``won`` (from any status: a lost lead that buys after all is won), and attaches the
lead's opportunities that have no customer to the new customer, so that winning them later
records orders for the right customer. Conversion does not run the duplicate check.

Probability is the member's estimate and is never changed by a status move.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from peewee import JOIN, Case, IntegrityError, fn

from crm import idempotency, permissions, tenancy
from crm.acting import Actor
from crm.audit import ChangeSet, change, snapshot
from crm.clock import utcnow
from crm.db import database
from crm.duplicates import phone_region, refuse_duplicates
from crm.errors import Conflict, NotFound, ValidationError, cleaned, cleaned_fields
from crm.models import (
    LEAD_SOURCES,
    LEAD_STATUSES,
    PRIORITIES,
    Customer,
    Lead,
    LeadScore,
    Opportunity,
)
from crm.parsing import (
    parse_choice,
    parse_email,
    parse_int,
    parse_money,
    parse_percent,
    parse_phone,
    parse_text,
)
from crm.segment_counts import recount_company
from crm.tenancy import ref_label

OPEN_STATUSES: Final = ("new", "contacted", "qualified")
LEAD_SORTS: Final = ("urgency", "score")
CLOSED_STATUSES: Final = ("won", "lost")
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "new": ("contacted", "qualified", "won", "lost"),
    "contacted": ("qualified", "won", "lost"),
    "qualified": ("won", "lost"),
    "won": (),
    "lost": ("contacted",),
}
MAX_TAGS = 20
MAX_LIST = 200


class _Default(enum.Enum):
    ACTOR = "actor"


ASSIGN_TO_ACTOR: Final = _Default.ACTOR
"""Default of ``assigned_to_id``: the acting member (nobody for tokens and the system actor).
Pass ``None`` explicitly for an unassigned record."""

Assignee = int | None | _Default


# --- field cleaning shared with crm.customers -----------------------------------------------


def clean_text(
    value: Any, field: str, max_length: int, *, required: bool = False, collapse: bool = True
) -> str | None:
    """Stripped text up to ``max_length``; blank means "none" unless ``required``. Names
    (``collapse``) also get runs of whitespace collapsed; free text keeps its line breaks.
    The characters allowed are :mod:`crm.parsing.text`'s rule."""
    return parse_text(value, field, max_length, required=required, multiline=not collapse)


def clean_name(value: Any, field: str = "name") -> str:
    text = clean_text(value, field, 200, required=True)
    assert text is not None
    return text


def clean_email(value: Any) -> str | None:
    return None if value is None or value == "" else parse_email(value, "email")


def clean_phone(value: Any, region: str) -> str | None:
    return None if value is None or value == "" else parse_phone(value, "phone", region)


def clean_tags(value: Any, field: str = "tags") -> list[str]:
    """Segment tags: trimmed, lower-cased (so ``VIP`` and ``vip`` are one tag), de-duplicated
    in order. A comma-separated string is accepted as well as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValidationError(field, "must be a list of tags", hint=f"{field}=vip,retail")
    tags: list[str] = []
    for item in value:
        tag = clean_text(item, field, 50)
        if tag is not None and tag.lower() not in tags:
            tags.append(tag.lower())
    if len(tags) > MAX_TAGS:
        raise ValidationError(field, f"at most {MAX_TAGS} tags", hint=f"{field}=vip,retail")
    return tags


def resolve_assignee(actor: Actor, value: Assignee, field: str = "assign") -> int | None:
    """The member id to assign: the actor by default, checked inside the company (rule 8)."""
    if value is ASSIGN_TO_ACTOR:
        return actor.member_id
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValidationError(field, "must be a member id", hint=f"{field}=@someone")
    member = tenancy.fetch_member(actor, value, field)  # type: ignore[arg-type]
    return member.id if member is not None else None


def clean_page(limit: Any, offset: Any) -> tuple[int, int]:
    return parse_int(limit, "limit", 1, MAX_LIST), parse_int(offset, "offset", 0)


# --- leads ----------------------------------------------------------------------------------


def _label(lead_id: Any) -> str:
    return ref_label("lead", lead_id)


def create_lead(
    actor: Actor,
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    company_name: str | None = None,
    source: str = "other",
    estimated_value: Decimal | None = None,
    probability: int | None = None,
    priority: str = "medium",
    assigned_to_id: Assignee = ASSIGN_TO_ACTOR,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    allow_duplicate: bool = False,
) -> Lead:
    """Create a lead in status ``new``; raises :class:`DuplicateFound` when likely twins exist
    (unless ``allow_duplicate``), replays the first record when ``idempotency_key`` repeats."""
    values = cleaned(
        name=lambda: clean_name(name),
        email=lambda: clean_email(email),
        phone=lambda: clean_phone(phone, phone_region(actor)) if phone else None,
        company_name=lambda: clean_text(company_name, "company", 200),
        source=lambda: parse_choice(source, "source", LEAD_SOURCES),
        estimated_value=lambda: (
            None if estimated_value is None else parse_money(estimated_value, "estimated_value")
        ),
        probability=lambda: None if probability is None else parse_percent(probability),
        priority=lambda: parse_choice(priority, "priority", PRIORITIES),
        tags=lambda: clean_tags(tags),
        assigned_to=lambda: resolve_assignee(actor, assigned_to_id),
    )

    def create() -> Lead:
        with change(actor) as ch:
            if not allow_duplicate:
                refuse_duplicates(actor, Lead, values)
            lead = Lead.create(company=actor.company_id, status="new", **values)
            ch.created_at_stage(lead, lead.status)
        lead.change_id = ch.change_id  # type: ignore[attr-defined]
        return lead

    return idempotency.once(actor, idempotency_key, Lead, create)[0]


def get_lead(actor: Actor, lead_id: int) -> Lead:
    return tenancy.fetch(Lead, actor, lead_id, "lead")


def list_leads(
    actor: Actor,
    *,
    status: str | None = None,
    assigned_to_id: int | None = None,
    source: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Lead]:
    """Leads, most urgent first: open before closed, then high priority before low, then the
    longest untouched (last contact, or creation if never contacted) first. ``sort="score"``
    puts the highest lead score (SPEC 13) first instead, unscored leads after the scored.

    ``status`` may also be ``"open"`` (new, contacted or qualified).
    """
    limit, offset = clean_page(limit, offset)
    query = Lead.scoped(actor)
    if status is not None:
        wanted = parse_choice(status, "status", (*LEAD_STATUSES, "open"))
        query = query.where(
            Lead.status.in_(OPEN_STATUSES) if wanted == "open" else Lead.status == wanted
        )
    if assigned_to_id is not None:
        query = query.where(Lead.assigned_to == parse_int(assigned_to_id, "assigned_to_id", 1))
    if source is not None:
        query = query.where(Lead.source == parse_choice(source, "source", LEAD_SOURCES))
    closed_last = Case(None, [(Lead.status.in_(OPEN_STATUSES), 0)], 1)
    priority_first = Case(Lead.priority, [("high", 0), ("medium", 1), ("low", 2)], 3)
    touched = fn.COALESCE(Lead.last_contacted_at, Lead.created_at)
    order = [closed_last, priority_first, touched.asc(), Lead.id.asc()]
    if sort is not None and parse_choice(sort, "sort", LEAD_SORTS) == "score":
        query = query.join(LeadScore, JOIN.LEFT_OUTER, on=(LeadScore.lead == Lead.id))
        unscored_last = Case(None, [(LeadScore.score.is_null(), 1)], 0)
        order = [unscored_last, LeadScore.score.desc(), *order]
    return list(query.order_by(*order).limit(limit).offset(offset))


def _check_move(lead: Lead, to: str, reason: str | None, reason_field: str) -> None:
    """Refuse a move the workflow does not allow (see the module docstring)."""
    allowed = TRANSITIONS[lead.status]
    if to not in allowed:
        label = _label(lead.id)
        if not allowed:
            raise ValidationError(
                "status", f"{label} is {lead.status}, which is final; it cannot move to {to}"
            )
        raise ValidationError(
            "status",
            f"{label} is {lead.status}; it can move to {', '.join(allowed)} (not {to})",
            hint=f"status={allowed[0]}",
        )
    if to == "lost" and not reason:
        raise ValidationError(
            reason_field,
            "a reason is required to mark a lead lost",
            hint=f'{reason_field}="went with a competitor"',
        )
    if to != "lost" and reason:
        raise ValidationError(reason_field, "only a move to lost takes a reason")


def _apply_move(lead: Lead, to: str, reason: str | None) -> None:
    if to == "lost":
        lead.lost_reason = reason
    elif lead.status == "lost":
        lead.lost_reason = None
    lead.status = to


def set_lead_status(actor: Actor, lead_id: int, status: str, *, reason: str | None = None) -> Lead:
    """Move a lead along the workflow; a move to ``lost`` needs ``reason``."""
    to = parse_choice(status, "status", LEAD_STATUSES)
    why = clean_text(reason, "reason", 1000, collapse=False)
    with change(actor) as ch:
        lead = tenancy.fetch_for_update(Lead, actor, lead_id, "lead")
        permissions.require_edit(actor, lead, _label(lead.id))
        if lead.status == to:
            lead.change_id = None  # type: ignore[attr-defined]
            return lead
        _check_move(lead, to, why, "reason")
        before = snapshot(lead)
        from_status = lead.status
        _apply_move(lead, to, why)
        lead.save()
        ch.updated(lead, before)
        ch.stage_moved("lead", lead.id, from_status, lead.status)
    lead.change_id = ch.change_id  # type: ignore[attr-defined]
    return lead


LEAD_FIELDS: Final = (
    "name",
    "email",
    "phone",
    "company_name",
    "source",
    "priority",
    "estimated_value",
    "probability",
    "tags",
    "assigned_to_id",
    "status",
    "lost_reason",
)


def check_fields(fields: dict[str, Any], allowed: tuple[str, ...], noun: str) -> None:
    for name in fields:
        if name not in allowed:
            raise ValidationError(
                name, f"is not a {noun} field that can be changed", hint=", ".join(allowed)
            )


def update_lead(actor: Actor, lead_id: int, **fields: Any) -> Lead:
    """Change any of :data:`LEAD_FIELDS` (the API's PATCH), validated like creation.

    A ``status`` change goes through the workflow, with ``lost_reason`` as its reason; fields
    that already have the given value are left alone, and a PATCH that changes nothing
    returns the lead with ``change_id`` ``None``.
    """
    check_fields(fields, LEAD_FIELDS, "lead")
    cleaners: dict[str, Callable[[Any], Any]] = {
        "name": clean_name,
        "email": clean_email,
        "company_name": lambda v: clean_text(v, "company", 200),
        "source": lambda v: parse_choice(v, "source", LEAD_SOURCES),
        "priority": lambda v: parse_choice(v, "priority", PRIORITIES),
        "estimated_value": lambda v: None if v is None else parse_money(v, "estimated_value"),
        "probability": lambda v: None if v is None else parse_percent(v),
        "tags": clean_tags,
        "status": lambda v: parse_choice(v, "status", LEAD_STATUSES),
        "lost_reason": lambda v: clean_text(v, "lost_reason", 1000, collapse=False),
    }
    region = phone_region(actor) if fields.get("phone") else None
    cleaners["phone"] = lambda v: clean_phone(v, region) if v else None  # type: ignore[arg-type]
    cleaners["assigned_to_id"] = lambda v: resolve_assignee(actor, v)
    values = cleaned_fields(cleaners, fields)
    if "assigned_to_id" in values:
        values["assigned_to"] = values.pop("assigned_to_id")
    with change(actor) as ch:
        lead = tenancy.fetch_for_update(Lead, actor, lead_id, "lead")
        permissions.require_edit(actor, lead, _label(lead.id))
        before = snapshot(lead)
        from_status = lead.status
        to = values.pop("status", from_status)
        has_reason = "lost_reason" in values
        reason = values.pop("lost_reason", None)
        if to != from_status:
            _check_move(lead, to, reason, "lost_reason")
            _apply_move(lead, to, reason)
        elif has_reason:
            if from_status != "lost":
                raise ValidationError(
                    "lost_reason",
                    "only a lost lead has a lost reason",
                    hint='status=lost lost_reason="went with a competitor"',
                )
            if not reason:
                raise ValidationError("lost_reason", "a lost lead keeps a reason")
            lead.lost_reason = reason
        for name, value in values.items():
            setattr(lead, name, value)
        if snapshot(lead) == before:
            lead.change_id = None  # type: ignore[attr-defined]
            return lead
        lead.save()
        ch.updated(lead, before)
        if lead.status != from_status:
            ch.stage_moved("lead", lead.id, from_status, lead.status)
    lead.change_id = ch.change_id  # type: ignore[attr-defined]
    return lead


def assign_lead(actor: Actor, lead_id: int, member_id: int | None) -> Lead:
    """Reassign (``None`` unassigns); the new assignee must be a member of the company."""
    return update_lead(actor, lead_id, assigned_to_id=member_id)


def _already_converted(actor: Actor, lead: Lead) -> Conflict:
    customer = Customer.scoped(actor).where(Customer.lead == lead.id).first()
    label = _label(lead.id)
    if customer is not None:
        return Conflict(f"{label} was already converted to {ref_label('customer', customer.id)}")
    when = f" on {lead.converted_at:%Y-%m-%d}" if lead.converted_at else ""
    return Conflict(f"{label} was already converted{when}")


def convert_lead(actor: Actor, lead_id: int) -> Customer:
    """Turn a lead into a customer, exactly once (rule 1); see the module docstring."""
    try:
        lid = int(lead_id)
    except (TypeError, ValueError):
        raise NotFound(f"lead {lead_id!r} not found") from None
    now = utcnow()
    with change(actor) as ch:
        # the claim is the first statement: a concurrent conversion waits here, then sees 0 rows
        claimed = (
            Lead.scoped_update(actor, converted_at=now, updated_at=now)
            .where((Lead.id == lid) & Lead.converted_at.is_null())
            .execute()
        )
        lead = tenancy.fetch(Lead, actor, lid, "lead")
        if not claimed:
            raise _already_converted(actor, lead)
        permissions.require_edit(actor, lead, _label(lid))
        before = snapshot(lead)
        before["converted_at"] = None
        from_status = lead.status
        if from_status != "won":
            _apply_move(lead, "won", None)
        try:
            with database.atomic():
                customer = Customer.create(
                    company=actor.company_id,
                    name=lead.name,
                    email=lead.email,
                    phone=lead.phone,
                    company_name=lead.company_name,
                    tags=list(lead.tags or []),
                    lead=lead.id,
                    assigned_to=lead.assigned_to_id,
                    last_contacted_at=lead.last_contacted_at,
                )
        except IntegrityError:
            raise _already_converted(actor, lead) from None
        lead.save()
        ch.created(customer)
        ch.updated(lead, before, action="convert")
        if from_status != "won":
            ch.stage_moved("lead", lead.id, from_status, lead.status)
        _attach_opportunities(ch, actor, lead, customer)
        recount_company(actor.company_id)  # rule 7: a new customer may enter segments
    customer.change_id = ch.change_id  # type: ignore[attr-defined]
    return customer


def _attach_opportunities(ch: ChangeSet, actor: Actor, lead: Lead, customer: Customer) -> None:
    """The lead's opportunities without a customer now belong to the new customer too."""
    opportunities = list(
        Opportunity.scoped(actor).where(
            (Opportunity.lead == lead.id) & Opportunity.customer.is_null()
        )
    )
    if not opportunities:
        return
    befores = [snapshot(o) for o in opportunities]
    Opportunity.scoped_update(actor, customer=customer.id, updated_at=utcnow()).where(
        Opportunity.id.in_([o.id for o in opportunities])
    ).execute()
    for opportunity, before in zip(opportunities, befores, strict=True):
        opportunity.customer = customer.id
        ch.updated(opportunity, before)
