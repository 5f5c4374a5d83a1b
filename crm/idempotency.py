"""Repeated submissions create one record (SPEC 5.1): Slack retries, double clicks, API retries.

A create use case (or an adapter around one that takes no key) wraps its work in
:func:`once` with the submission's key (a Slack view id or retry id, an API
``Idempotency-Key`` header)::

    lead, replayed = idempotency.once(actor, key, Lead, make)   # make() opens change(actor)

which runs, in one transaction, :func:`seen` (first statement), then either :func:`replay`
or ``make()`` and :func:`remember`. The three steps stay public for the tests that race them.

The unique index on ``(company, key)`` decides races, not the ``seen`` check: inside a
transaction :func:`seen` *claims* the key by inserting its row straight away (``INSERT``
that ignores a conflict, so a taken key neither raises nor spoils the transaction, and no
savepoint is needed).
A concurrent submission with the same key then blocks on that index until the first
transaction ends and finds the finished row, so it replays the first record instead of
building a twin. If the first transaction rolls back (a validation error, a likely duplicate),
its claim disappears with it and the key is free again, which is what "Create anyway" needs.

Why insert first rather than read first: on SQLite a transaction that has read and then tries
to write after someone else committed fails with "database is locked" (its snapshot is
stale); a transaction whose first statement is the write simply waits for the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from peewee import IntegrityError

from crm.acting import Actor
from crm.audit import entity_type_of
from crm.clock import utcnow
from crm.db import database
from crm.errors import Conflict, ValidationError
from crm.models import ENTITY_MODELS, ApiIdempotencyKey, BaseModel, IdempotencyKey
from crm.sql_cache import Statement
from crm.tenancy import ref_label

M = TypeVar("M", bound=BaseModel)

MAX_KEY_LENGTH = 200


def check_key(key: object, field: str = "idempotency_key") -> str:
    """A key is any non-blank text up to 200 characters (Slack view ids, UUIDs, ...)."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(field, "must be non-empty text", hint="a UUID")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(field, f"is longer than {MAX_KEY_LENGTH} characters", hint="a UUID")
    return key


_LOOKUP = Statement(
    lambda company_id, key: (
        IdempotencyKey.scoped(company_id).where(IdempotencyKey.key == key).limit(1)
    )
)
_CLAIM = Statement(
    lambda company_id, key, now: IdempotencyKey.insert(
        company=company_id, key=key, created_at=now, updated_at=now
    ).on_conflict_ignore()
)
_BIND = Statement(
    lambda company_id, key, entity_type, entity_id, change_id: IdempotencyKey.scoped_update(
        company_id, entity_type=entity_type, entity_id=entity_id, change_id=change_id
    ).where((IdempotencyKey.key == key) & IdempotencyKey.entity_id.is_null())
)


def _lookup(actor: Actor, key: str) -> IdempotencyKey | None:
    found = _LOOKUP.models(IdempotencyKey, company_id=actor.company_id, key=key)
    return found[0] if found else None


def seen(actor: Actor, key: str) -> IdempotencyKey | None:
    """The finished earlier submission with this key, or ``None`` when this one is first.

    Inside a transaction ``None`` also means "claimed": the key's row now exists in this
    transaction (without a record yet) and :func:`remember` completes it. Call it before any
    other statement of the use case (see the module docstring). Outside a transaction it only
    reads.
    """
    key = check_key(key)
    if not database.in_transaction():
        row = _lookup(actor, key)
        return row if row is not None and row.entity_id is not None else None
    if _CLAIM.rowcount(company_id=actor.company_id, key=key, now=utcnow()):
        return None  # claimed: the row is ours until this transaction ends
    row = _lookup(actor, key)
    if row is None or row.entity_id is None:
        # our own claim from earlier in this transaction (or an orphan claim made outside a
        # transaction): nothing was finished under this key, so this submission proceeds
        return None
    return row


def remember(actor: Actor, key: str, record: BaseModel, change_id: str) -> IdempotencyKey:
    """Bind ``key`` to the record this submission created; returns the row holding the key.

    Normally that is this submission's row. If the caller skipped :func:`seen` and another
    submission finished first, the unique index refuses the insert and the *winner's* row is
    returned (its ``entity_id`` is not ``record.id``): the caller must then abandon its own
    record (raise to roll back) and return :func:`replay` of the winner.
    """
    key = check_key(key)
    entity_type = entity_type_of(record)
    bound = _BIND.rowcount(
        company_id=actor.company_id,
        key=key,
        entity_type=entity_type,
        entity_id=record.id,
        change_id=change_id,
    )
    if not bound:
        try:
            with database.atomic():
                IdempotencyKey.create(
                    company=actor.company_id,
                    key=key,
                    entity_type=entity_type,
                    entity_id=record.id,
                    change_id=change_id,
                )
        except IntegrityError:
            pass
    row = _lookup(actor, key)
    assert row is not None  # bound, inserted, or held by the winner
    return row


def replay(actor: Actor, row: IdempotencyKey, model: type[M]) -> M:
    """The record an earlier submission created, with that submission's ``change_id``.

    Refused with :class:`Conflict` when the key was used for another kind of record, or when
    the record is gone (its creation was undone): recreating it would silently reverse the
    member's Undo.
    """
    expected = next(
        (name for name, m in ENTITY_MODELS.items() if m is model), model.__name__.lower()
    )
    if row.entity_type != expected:
        raise Conflict(
            f"That submission key was already used to create a {row.entity_type}, not a {expected}"
        )
    record = model.scoped(actor).where(model.id == row.entity_id).first()
    if record is None:
        raise Conflict(
            f"That submission already created {ref_label(expected, row.entity_id)}, "
            "which has since been removed"
        )
    record.change_id = row.change_id  # type: ignore[attr-defined]
    return record


def once(actor: Actor, key: str | None, model: type[M], create: Callable[[], M]) -> tuple[M, bool]:
    """``create()`` at most once per ``key`` in the actor's company; ``(record, replayed)``.

    ``create`` makes one ``model`` record in its own ``with change(actor)`` block and sets the
    record's ``change_id``. The key's claim is the first statement of this transaction and
    ``create``'s change nests inside it, so a refusal (a validation error, a likely duplicate)
    rolls the claim back with the record and the corrected resubmission may proceed. Without
    a key (``None``) this is just ``create()``.
    """
    if key is None:
        return create(), False
    key = check_key(key)
    with database.atomic():
        prior = seen(actor, key)
        if prior is not None:
            return replay(actor, prior, model), True
        record = create()
        remember(actor, key, record, record.change_id)  # type: ignore[attr-defined]
    return record, False


# --- whole API requests (SPEC 8: ``Idempotency-Key`` on any POST) ----------------------------

REQUEST_CLAIM_TIMEOUT = timedelta(seconds=60)
"""A request whose key is claimed but unanswered for this long died midway (its process was
killed): its key may be taken over. Shorter than any client's sensible retry back-off."""


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`claim_request`: ``mine`` (go ahead and run the request), or the
    finished first answer (``status``, ``response``) to send again."""

    mine: bool
    status: int | None = None
    response: str | None = None


def claim_request(actor: Actor, key: str, fingerprint: str) -> Claim:
    """Claim ``key`` for a request with this fingerprint, in a transaction of its own (so a
    concurrent retry sees the claim at once and does not run the request a second time).

    :class:`Conflict` when the key belongs to a different request, or to this one still
    running.
    """
    key = check_key(key, "Idempotency-Key")
    now = utcnow()
    with database.atomic():
        inserted = (
            ApiIdempotencyKey.insert(
                company=actor.company_id,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        if inserted:
            return Claim(True)
        row = ApiIdempotencyKey.scoped(actor).where(ApiIdempotencyKey.key == key).first()
        if row is None:  # released between our insert attempt and the read: ours to retry
            return claim_request(actor, key, fingerprint)
        if row.fingerprint != fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used for a different request; "
                "use a new key for a new request",
                field="Idempotency-Key",
            )
        if row.status is not None:
            return Claim(False, row.status, row.response)
        if now - row.created_at < REQUEST_CLAIM_TIMEOUT:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly",
                field="Idempotency-Key",
            )
        taken = (
            ApiIdempotencyKey.scoped_update(actor, created_at=now, updated_at=now)
            .where((ApiIdempotencyKey.id == row.id) & ApiIdempotencyKey.status.is_null())
            .execute()
        )
        if not taken:
            return claim_request(actor, key, fingerprint)
    return Claim(True)


def finish_request(actor: Actor, key: str, status: int, response: str) -> None:
    """Store the answer of the claimed request, for the retries to come."""
    ApiIdempotencyKey.scoped_update(
        actor, status=status, response=response, updated_at=utcnow()
    ).where(ApiIdempotencyKey.key == key.strip()).execute()


def release_request(actor: Actor, key: str) -> None:
    """The request failed: free its key, so the corrected request may use it."""
    ApiIdempotencyKey.scoped_delete(actor).where(
        (ApiIdempotencyKey.key == key.strip()) & ApiIdempotencyKey.status.is_null()
    ).execute()
