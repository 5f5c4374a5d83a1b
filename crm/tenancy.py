"""Company-scoped lookups (rule 8): a record of another company is "not found", never used.

Every service fetches one record by its id through these functions; lists and totals start
from ``Model.scoped(actor, ...)`` (:class:`crm.models.TenantModel`), which these are built
on, so no use case can forget the ``company`` filter (``tests/test_scoping.py`` checks it).
"""

from __future__ import annotations

from typing import TypeVar

from crm.acting import Actor
from crm.errors import NotFound, ValidationError
from crm.models import SUBJECT_MODELS, Member, TenantModel

M = TypeVar("M", bound=TenantModel)

PREFIX = {
    "lead": "L",
    "opportunity": "O",
    "customer": "C",
    "followup": "F",
    "segment": "S",
    "campaign": "M",
}


def ref_label(entity_type: str, entity_id: int) -> str:
    prefix = PREFIX.get(entity_type)
    return f"{prefix}{entity_id}" if prefix else f"{entity_type} {entity_id}"


def fetch(model: type[M], actor: Actor, record_id: int | None, entity_type: str) -> M:
    """The record if it exists in the actor's company, else :class:`NotFound`."""
    label = ref_label(entity_type, record_id) if record_id is not None else entity_type
    if record_id is None:
        raise NotFound(f"{label} not found")
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        raise NotFound(f"{entity_type} {record_id!r} not found") from None
    record = model.scoped(actor).where(model.id == record_id).first()
    if record is None:
        raise NotFound(f"{label} not found")
    return record


def fetch_for_update(model: type[M], actor: Actor, record_id: int | None, entity_type: str) -> M:
    """Like :func:`fetch`, locking the row on PostgreSQL so concurrent moves serialize."""
    from crm.db import is_postgres

    if record_id is not None and is_postgres():
        try:
            rid = int(record_id)
        except (TypeError, ValueError):
            raise NotFound(f"{entity_type} {record_id!r} not found") from None
        record = model.scoped(actor).where(model.id == rid).for_update().first()
        if record is None:
            raise NotFound(f"{ref_label(entity_type, rid)} not found")
        return record
    return fetch(model, actor, record_id, entity_type)


def fetch_member(actor: Actor, member_id: int | None, field: str = "assign") -> Member | None:
    """An assignee must be an active member of the actor's company (rule 8)."""
    if member_id is None:
        return None
    member = Member.scoped(actor).where(Member.id == member_id).first()
    if member is None or not member.is_active:
        raise NotFound(f"{field}: that member was not found in this workspace")
    return member


def fetch_subject(actor: Actor, subject_type: str, subject_id: int) -> TenantModel:
    """A polymorphic subject (lead, customer or opportunity) of the actor's company."""
    model = SUBJECT_MODELS.get(subject_type)
    if model is None:
        raise ValidationError(
            "subject",
            f"{subject_type!r} is not a lead, customer or opportunity",
            hint="L12, C3 or O7",
        )
    return fetch(model, actor, subject_id, subject_type)
