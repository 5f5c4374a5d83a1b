"""The audit trail, written by the service layer in the same transaction as the change.

A use case opens ``with change(actor) as ch:`` and reports what it did (``ch.created``,
``ch.updated``, ``ch.deleted``). All rows of one use case share a ``change_id``, which is the
handle for Undo: :func:`revert` undoes exactly that change, refuses to undo twice, and refuses
when a field has moved on since (so an Undo never clobbers someone else's later edit).
ORM signals are not used: they miss bulk updates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from peewee import DateField, DateTimeField, ForeignKeyField, IntegrityError

from crm import permissions, search, sql_cache
from crm.acting import Actor
from crm.clock import utcnow
from crm.db import database
from crm.errors import Conflict, NotFound
from crm.models import ENTITY_MODELS, AuditLog, BaseModel, CloseDateChange, StageChange

UNDO_WINDOW = timedelta(minutes=10)
# timestamps, and columns derived from others on save (a lead's company_key)
SKIPPED_FIELDS = frozenset({"created_at", "updated_at", "company_key"})

# entity types audited besides ENTITY_MODELS (history rows a change may add)
_EXTRA_MODELS: dict[str, type[BaseModel]] = {
    "stage_change": StageChange,
    "close_date_change": CloseDateChange,
}


def _models() -> dict[str, type[BaseModel]]:
    return {**ENTITY_MODELS, **_EXTRA_MODELS}


def entity_type_of(record: BaseModel) -> str:
    for name, model in _models().items():
        if type(record) is model:
            return name
    raise KeyError(type(record).__name__)


def encode(value: Any) -> Any:
    """A JSON-safe form of a field value that :func:`decode` turns back."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def decode(model: type[BaseModel], name: str, value: Any) -> Any:
    if value is None:
        return None
    f = model._meta.fields[name]
    if isinstance(f, DateTimeField):
        return datetime.fromisoformat(value)
    if isinstance(f, DateField):
        return date.fromisoformat(value)
    if type(f).__name__ == "MoneyField":
        return Decimal(value)
    return value


def snapshot(record: BaseModel) -> dict[str, Any]:
    """Every column's value, JSON-safe, foreign keys as ids."""
    return {
        name: encode(record.__data__.get(name))
        for name in record._meta.fields
        if name not in SKIPPED_FIELDS
    }


@dataclass
class ChangeSet:
    actor: Actor
    change_id: str
    rows: list[AuditLog] = field(default_factory=list)

    def _values(self, action: str, record: BaseModel, changes: dict[str, list[Any]]) -> dict:
        a = self.actor
        return {
            "company": a.company_id,
            "change_id": self.change_id,
            "actor_type": a.kind,
            "actor_member": a.member_id,
            "actor_token": a.token_id,
            "actor_label": a.label[:200],
            "origin": a.origin,
            "action": action,
            "entity_type": entity_type_of(record),
            "entity_id": record.id,
            "changes": changes,
        }

    def _write(self, action: str, record: BaseModel, changes: dict[str, list[Any]]) -> None:
        self.rows.append(AuditLog.create(**self._values(action, record, changes)))
        _keep_searchable(action, record, changes)

    def created(self, record: BaseModel) -> None:
        self._write("create", record, {k: [None, v] for k, v in snapshot(record).items()})

    def created_many(self, records: list[BaseModel]) -> None:
        """Records inserted in bulk (CSV import): their audit rows in one INSERT as well."""
        if not records:
            return
        now = utcnow()
        AuditLog.insert_many(
            [
                {
                    **self._values("create", r, {k: [None, v] for k, v in snapshot(r).items()}),
                    "created_at": now,
                    "updated_at": now,
                }
                for r in records
            ]
        ).execute()
        kind = entity_type_of(records[0])
        if kind in search.KINDS:
            search.index(kind, records, fresh=True)

    def created_at_stage(self, record: BaseModel, stage: str) -> StageChange:
        """A new lead or opportunity and its first stage-history row, whose two audit rows go
        in one INSERT: every create of either runs this, and each statement is a round trip
        in the transaction (the two rows are not in :attr:`rows`, which only Undo reads)."""
        history = self._history(entity_type_of(record), record.id, None, stage)
        sql_cache.insert_rows(
            AuditLog,
            [
                self._values("create", r, {k: [None, v] for k, v in snapshot(r).items()})
                for r in (record, history)
            ],
        )
        _keep_searchable("create", record, {})
        return history

    def _history(
        self, entity_type: str, entity_id: int, from_stage: str | None, to_stage: str
    ) -> StageChange:
        return StageChange.create(
            company=self.actor.company_id,
            entity_type=entity_type,
            entity_id=entity_id,
            from_stage=from_stage,
            to_stage=to_stage,
            changed_at=utcnow(),
            actor=self.actor.member_id,
        )

    def stage_moved(
        self, entity_type: str, entity_id: int, from_stage: str | None, to_stage: str
    ) -> StageChange:
        """The history row of a status/stage move (``from_stage`` None: the record was created),
        in this change so that Undo removes it with the move."""
        row = self._history(entity_type, entity_id, from_stage, to_stage)
        self.created(row)
        return row

    def updated(self, record: BaseModel, before: dict[str, Any], action: str = "update") -> None:
        """Record the fields that differ from ``before`` (a :func:`snapshot`); no-op if none."""
        after = snapshot(record)
        diff = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        if diff:
            self._write(action, record, diff)

    def deleted(self, record: BaseModel) -> None:
        self._write("delete", record, {k: [v, None] for k, v in snapshot(record).items()})


def _keep_searchable(action: str, record: BaseModel, changes: dict[str, list[Any]]) -> None:
    """The word index of :mod:`crm.search` follows every change to a lead, customer or
    opportunity, in the same transaction (so Undo, imports and the API keep it too)."""
    kind = entity_type_of(record)
    if kind not in search.KINDS:
        return
    if action == "delete":
        search.forget(record.company_id, kind, [record.id])  # type: ignore[attr-defined]
    elif action == "create":
        search.index(kind, [record], fresh=True)
    elif search.SEARCHED_FIELDS & changes.keys():
        search.index(kind, [record])


@contextmanager
def change(actor: Actor) -> Iterator[ChangeSet]:
    """One use case = one transaction = one change id."""
    with database.atomic():
        yield ChangeSet(actor, uuid.uuid4().hex)


def history(actor: Actor, entity_type: str, entity_id: int, limit: int = 50) -> list[AuditLog]:
    """A record's audit rows, newest first (scoped to the actor's company)."""
    return list(
        AuditLog.scoped(actor)
        .where((AuditLog.entity_type == entity_type) & (AuditLog.entity_id == entity_id))
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )


def change_rows(actor: Actor, change_id: str, action: str | None = None) -> list[AuditLog]:
    """The audit rows of one change of the actor's company, oldest first (what its receipt
    shows and what an Undo would take back); ``action`` keeps one kind (``"update"``)."""
    query = AuditLog.scoped(actor).where(AuditLog.change_id == change_id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return list(query.order_by(AuditLog.id))


def revert(actor: Actor, change_id: str, *, window: timedelta | None = UNDO_WINDOW) -> str:
    """Undo one change; returns the change id of the revert (itself audited).

    Refused when the change is unknown in this company, already reverted, older than
    ``window``, or when a field it set has changed since.
    """
    with change(actor) as ch:
        rows = list(
            AuditLog.scoped(actor)
            .where(AuditLog.change_id == change_id)
            .order_by(AuditLog.id.desc())
        )
        if not rows:
            raise NotFound("That change was not found")
        _require_may_undo(actor, rows)
        if any(r.reverted_at is not None for r in rows):
            raise Conflict("That change was already undone")
        if window is not None and utcnow() - rows[-1].created_at > window:
            minutes = int(window.total_seconds() // 60)
            raise Conflict(f"Undo is only possible within {minutes} minutes of the change")
        # Claim the change first: a concurrent second Undo finds it reverted and stops.
        claimed = (
            AuditLog.scoped_update(actor, reverted_at=utcnow())
            .where((AuditLog.change_id == change_id) & AuditLog.reverted_at.is_null())
            .execute()
        )
        if claimed != len(rows):
            raise Conflict("That change was already undone")
        for row in rows:
            _undo_row(ch, row)
        for row in ch.rows:
            row.revert_of = change_id
            row.save()
        _refresh_derived(actor, rows)
    return ch.change_id


RevertHook = Callable[[Actor, list[AuditLog]], None]
_REVERT_HOOKS: dict[str, list[RevertHook]] = {}


def after_revert(entity_type: str) -> Callable[[RevertHook], RevertHook]:
    """Register what must be recomputed when an Undo touched ``entity_type`` (a segment's
    count, rule 7). The module that owns the rule registers it at import, so this module
    needs to import none of them (they all import this one)."""

    def register(hook: RevertHook) -> RevertHook:
        _REVERT_HOOKS.setdefault(entity_type, []).append(hook)
        return hook

    return register


def _refresh_derived(actor: Actor, rows: list[AuditLog]) -> None:
    """Lifetime value follows orders: an undone order must not leave stale metrics behind."""
    for entity_type in sorted({row.entity_type for row in rows}):
        touched = [row for row in rows if row.entity_type == entity_type]
        for hook in _REVERT_HOOKS.get(entity_type, ()):
            hook(actor, touched)
    customers = set()
    for row in rows:
        if row.entity_type == "order":
            before, after = row.changes.get("customer", [None, None])
            customers.update(c for c in (before, after) if c is not None)
    if customers:
        from crm.customer_value import recompute_customer

        for customer_id in sorted(customers):
            if ENTITY_MODELS["customer"].get_or_none(id=customer_id) is not None:
                recompute_customer(actor.company_id, customer_id)


def _require_may_undo(actor: Actor, rows: list[AuditLog]) -> None:
    """Every row of the change must be one the actor may make now (crm.permissions decides)."""
    first = rows[-1]
    author = (actor.kind == "member" and first.actor_member_id == actor.member_id) or (
        actor.kind == "token" and first.actor_token_id == actor.token_id
    )
    changed: list[tuple[str, Any]] = []
    for row in reversed(rows):  # oldest first: the record the change was about
        model = _models().get(row.entity_type)
        if model is None or model in _EXTRA_MODELS.values():
            continue  # history rows go with the record they describe
        record = model.scoped(actor).where(model.id == row.entity_id).first()
        if record is None and row.action == "delete":
            # the undo brings it back as it was: judge that record
            record = model(**{k: decode(model, k, v[0]) for k, v in row.changes.items()
                              if k in model._meta.fields})  # fmt: skip
        changed.append((row.entity_type, record))
    permissions.require_undo(actor, author=author, changed=changed)


# Rows derived from others (recomputed, never edited by people) may go with their parent.
_DERIVED_TABLES = frozenset({"cms_customer_metrics", "cms_idempotency_keys"})


def _refuse_if_used(record: BaseModel, company_id: int, label: str) -> None:
    """Deleting a record that later rows point at would cascade silently; refuse instead.

    Rows created by the same change were already removed (rows are undone newest first).
    """
    for fk, child in type(record)._meta.backrefs.items():
        if child._meta.table_name in _DERIVED_TABLES:
            continue
        if child.scoped(company_id).where(fk == record.id).exists():
            raise Conflict(f"{label} is used by other records now and cannot be undone")


def _undo_row(ch: ChangeSet, row: AuditLog) -> None:
    model = _models()[row.entity_type]
    label = f"{row.entity_type} {row.entity_id}"
    if row.action == "create":
        record = model.scoped(row.company_id).where(model.id == row.entity_id).first()
        if record is None:
            return  # already gone
        _refuse_if_used(record, row.company_id, label)
        ch.deleted(record)
        try:
            with database.atomic():
                record.delete_instance()
        except IntegrityError:
            raise Conflict(f"{label} is used by other records now and cannot be undone") from None
        return
    if row.action == "delete":
        values = {k: decode(model, k, v[0]) for k, v in row.changes.items()}
        record = model.create(**values)
        ch.created(record)
        return
    record = model.scoped(row.company_id).where(model.id == row.entity_id).first()
    if record is None:
        raise Conflict(f"{label} no longer exists")
    before = snapshot(record)
    for name, (old, new) in row.changes.items():
        if name not in model._meta.fields:
            continue
        if before.get(name) != new:
            raise Conflict(f"{label} was changed again since ({name}); undo refused")
        f = model._meta.fields[name]
        setattr(
            record,
            f.name + ("_id" if isinstance(f, ForeignKeyField) else ""),
            decode(model, name, old),
        )
    record.save()
    ch.updated(record, before, action="revert")
