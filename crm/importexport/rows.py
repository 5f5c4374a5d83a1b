"""The row side of an import, per kind: parse cells, find what is already present, write a
batch (one statement per table, one audit change id), and export the same columns."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from peewee import JOIN, fn

from crm import permissions
from crm.acting import Actor
from crm.audit import ChangeSet
from crm.clock import utcnow
from crm.errors import Conflict, CRMError, NotFound, PermissionDenied, ValidationError
from crm.importexport.reading import FUTURE_SLACK, M
from crm.leads import clean_name, clean_tags, clean_text
from crm.models import (
    LEAD_SOURCES,
    LEAD_STATUSES,
    PRIORITIES,
    Company,
    CompanyKeyed,
    Customer,
    IdempotencyKey,
    Lead,
    Member,
    Order,
    StageChange,
)
from crm.parsing import (
    REF_PREFIX,
    parse_choice,
    parse_datetime,
    parse_email,
    parse_money,
    parse_percent,
    parse_phone,
    parse_ref,
)
from crm.segment_counts import recount_company


@dataclass(frozen=True)
class RejectedRow:
    line: int  # physical line of the file where the row starts (the header is line 1)
    field: str
    reason: str


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    already_present: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    change_ids: list[str] = field(default_factory=list)  # one per batch that created rows
    seconds: float = 0.0

    def reject(self, line: int, exc: CRMError) -> None:
        name = exc.field or "row"
        self.rejected.append(RejectedRow(line, name, exc.message.removeprefix(f"{name}: ")))


@dataclass
class _Row:
    line: int
    values: dict[str, Any]  # parsed, typed values
    key: str  # the stable key that makes a repeated import a no-op


@dataclass
class _Context:
    """What row parsing needs from the company, fetched once per import, not per row."""

    actor: Actor
    company: Company
    members: dict[str, int]  # lower-cased email and upper-cased Slack id -> member id


def _context(actor: Actor) -> _Context:
    company = Company.get_by_id(actor.company_id)
    members: dict[str, int] = {}
    for m in Member.scoped(actor).where(Member.is_active):
        members[m.slack_user_id.upper()] = m.id
        if m.email:
            members[m.email.lower()] = m.id
    return _Context(actor, company, members)


# --- cells -------------------------------------------------------------------------------------


def _text(raw: dict[str, str], name: str) -> str | None:
    value = (raw.get(name) or "").strip()
    return value or None


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def contact_key(email: str | None, phone: str | None, name: str, company: str | None) -> str:
    """The stable identity of a person in a file: email, else phone, else name + company."""
    if email:
        return f"email:{email}"
    if phone:
        return f"phone:{phone}"
    return f"name:{_norm(name)}|{_norm(company)}"


def idempotency_key(kind: str, stable: str) -> str:
    """``import:<kind>:<stable key>``; long keys are hashed to fit the column."""
    key = f"import:{kind}:{stable}"
    if len(key) > 200:
        key = f"import:{kind}:sha1:{hashlib.sha1(stable.encode()).hexdigest()}"
    return key


def _contact(ctx: _Context, raw: dict[str, str]) -> dict[str, Any]:
    """Name, email, phone and company cells, cleaned as create_lead/create_customer do."""
    email, phone = _text(raw, "email"), _text(raw, "phone")
    return {
        "name": clean_name(_text(raw, "name")),
        "email": parse_email(email, "email") if email else None,
        "phone": parse_phone(phone, "phone", ctx.company.phone_region) if phone else None,
        "company_name": clean_text(_text(raw, "company"), "company", 200),
    }


def _member(ctx: _Context, text: str | None) -> int | None:
    """A member named by email or Slack user id (rule 8: only this company's members);
    a blank cell means the importing member, as the create use cases default to."""
    if not text:
        return ctx.actor.member_id
    member_id = ctx.members.get(text.upper()) or ctx.members.get(text.lower())
    if member_id is None:
        raise ValidationError(
            "assigned_to",
            f"{text[:60]!r} is not a member of this workspace",
            hint="assigned_to=their email or Slack user id (U0123ABCD)",
        )
    return member_id


def _known_contacts(ctx: _Context, model: type[Lead | Customer], rows: list[_Row]) -> set[str]:
    """Keys of ``rows`` already present: imported before (an idempotency key whose record
    still exists), or an email or phone that a record of the company already has, whoever
    made it. Close-name matching (the duplicate finder's) is not used: it would merge
    "Lead 101" and "Lead 102" at one company; a row without email and phone is matched on its
    exact name + company key."""
    kind = "leads" if model is Lead else "customers"
    keys = {idempotency_key(kind, r.key): r.key for r in rows}
    bound = dict(
        IdempotencyKey.scoped(ctx.actor, IdempotencyKey.key, IdempotencyKey.entity_id)
        .where(IdempotencyKey.key.in_(list(keys)) & IdempotencyKey.entity_id.is_null(False))
        .tuples()
    )
    alive = {
        r.id for r in model.scoped(ctx.actor, model.id).where(model.id.in_(list(bound.values())))
    }
    found = {keys[k] for k, rid in bound.items() if rid in alive}
    emails = [r.values["email"] for r in rows if r.values["email"]]
    phones = [r.values["phone"] for r in rows if r.values["phone"]]
    names = [r.values["name"].lower() for r in rows if r.key.startswith("name:")]
    taken: set[str] = set()
    for email, phone, name, company in (
        model.scoped(ctx.actor, model.email, model.phone, model.name, model.company_name)
        .where(model.email.in_(emails) | model.phone.in_(phones) | fn.LOWER(model.name).in_(names))
        .tuples()
    ):
        taken |= {f"email:{email}", f"phone:{phone}", contact_key(None, None, name, company)}
    taken -= {"email:None", "phone:None"}
    for r in rows:
        if {r.key, f"email:{r.values['email']}", f"phone:{r.values['phone']}"} & taken:
            found.add(r.key)
    return found


def _bulk_create(ch: ChangeSet, model: type[M], rows: list[dict[str, Any]]) -> list[M]:
    """Insert ``rows`` with one statement and audit them with one more
    (:meth:`~crm.audit.ChangeSet.created_many`): an INSERT per record and per audit row is
    what made imports slow. The ids come
    back through RETURNING, in row order, on PostgreSQL and SQLite >= 3.35 (as Django's
    bulk_create relies on too)."""
    if not rows:
        return []
    now = utcnow()
    rows = [{"created_at": now, "updated_at": now, **r} for r in rows]
    if issubclass(model, CompanyKeyed):  # what save() would have set (no save here)
        rows = [model.keyed(r) for r in rows]
    ids = [i for (i,) in model.insert_many(rows).returning(model.id).tuples().execute()]
    records = [model(id=i, **r) for i, r in zip(ids, rows, strict=True)]
    ch.created_many(records)
    return records


def _bind_keys(ctx: _Context, ch: ChangeSet, kind: str, pairs: list[tuple[str, int]]) -> None:
    """Remember which record each row's key made (what ``idempotency.remember`` stores),
    replacing keys left behind by records that an Undo removed."""
    entity = kind.rstrip("s")
    keys = [idempotency_key(kind, k) for k, _ in pairs]
    company = ctx.actor.company_id
    IdempotencyKey.scoped_delete(company).where(IdempotencyKey.key.in_(keys)).execute()
    now = utcnow()
    IdempotencyKey.insert_many(
        [
            {"company": company, "key": key, "entity_type": entity, "entity_id": rid,
             "change_id": ch.change_id, "created_at": now, "updated_at": now}
            for key, (_, rid) in zip(keys, pairs, strict=True)
        ]
    ).execute()  # fmt: skip


# --- the kinds ---------------------------------------------------------------------------------


class _Kind(ABC):
    """How one kind of row is parsed, checked against the database, written and exported."""

    @abstractmethod
    def parse(self, ctx: _Context, raw: dict[str, str]) -> tuple[dict[str, Any], str]:
        """Typed values and the row's stable key; ValidationError for a bad cell."""
        ...

    def resolve(self, ctx: _Context, rows: list[_Row]) -> list[tuple[_Row, CRMError]]:
        """Check references for the whole batch at once; returns the rows that fail."""
        return []

    @abstractmethod
    def known(self, ctx: _Context, rows: list[_Row]) -> set[str]:
        """The keys of ``rows`` already in the database (a few queries per batch)."""
        ...

    @abstractmethod
    def write(self, ctx: _Context, ch: ChangeSet, rows: list[_Row]) -> None: ...

    @abstractmethod
    def export_rows(self, actor: Actor) -> Iterator[list[str]]: ...


class _Leads(_Kind):
    def parse(self, ctx: _Context, raw: dict[str, str]) -> tuple[dict[str, Any], str]:
        values = _contact(ctx, raw)
        value, probability = _text(raw, "value"), _text(raw, "probability")
        status = parse_choice(_text(raw, "status") or "new", "status", LEAD_STATUSES)
        reason = clean_text(_text(raw, "lost_reason"), "lost_reason", 1000)
        if status == "lost" and not reason:
            raise ValidationError(
                "lost_reason", "a lost lead needs a reason", hint='lost_reason="went elsewhere"'
            )
        values |= {
            "source": parse_choice(_text(raw, "source") or "other", "source", LEAD_SOURCES),
            "estimated_value": parse_money(value, "value") if value else None,
            "probability": parse_percent(probability, "probability") if probability else None,
            "priority": parse_choice(_text(raw, "priority") or "medium", "priority", PRIORITIES),
            "assigned_to": _member(ctx, _text(raw, "assigned_to")),
            "status": status,
            "lost_reason": reason if status == "lost" else None,
        }
        key = contact_key(values["email"], values["phone"], values["name"], values["company_name"])
        return values, key

    def known(self, ctx: _Context, rows: list[_Row]) -> set[str]:
        return _known_contacts(ctx, Lead, rows)

    def write(self, ctx: _Context, ch: ChangeSet, rows: list[_Row]) -> None:
        """What create_lead (+ set_lead_status for a later status) persists: the lead, its
        history (``None -> new``, then ``new -> status``) and an audit row for each."""
        company, now = ctx.actor.company_id, utcnow()
        leads = _bulk_create(ch, Lead, [{"company": company, "tags": [], **r.values} for r in rows])
        moves = [(None, "new", lead) for lead in leads]
        moves += [("new", lead.status, lead) for lead in leads if lead.status != "new"]
        history = [
            {"company": company, "entity_type": "lead", "entity_id": lead.id,
             "from_stage": before, "to_stage": after, "changed_at": now,
             "actor": ctx.actor.member_id}
            for before, after, lead in moves
        ]  # fmt: skip
        _bulk_create(ch, StageChange, history)
        _bind_keys(
            ctx, ch, "leads", [(r.key, lead.id) for r, lead in zip(rows, leads, strict=True)]
        )

    def export_rows(self, actor: Actor) -> Iterator[list[str]]:
        query = (
            Lead.scoped(actor, Lead, Member)
            .join(Member, JOIN.LEFT_OUTER, on=(Lead.assigned_to == Member.id))
            .order_by(Lead.id)
        )
        for lead in query.iterator():
            member = lead.assigned_to if lead.assigned_to_id else None
            yield [
                f"{REF_PREFIX['lead']}{lead.id}",
                lead.name,
                lead.email or "",
                lead.phone or "",
                lead.company_name or "",
                lead.source,
                _cell(lead.estimated_value),
                _cell(lead.probability),
                lead.priority,
                lead.status,
                (member.email or member.slack_user_id) if member else "",
                lead.lost_reason or "",
            ]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class _Customers(_Kind):
    def parse(self, ctx: _Context, raw: dict[str, str]) -> tuple[dict[str, Any], str]:
        values = _contact(ctx, raw)
        values["industry"] = clean_text(_text(raw, "industry"), "industry", 100)
        # commas or semicolons: spreadsheets use either inside a cell
        values["tags"] = clean_tags((_text(raw, "tags") or "").replace(";", ","))
        key = contact_key(values["email"], values["phone"], values["name"], values["company_name"])
        return values, key

    def known(self, ctx: _Context, rows: list[_Row]) -> set[str]:
        return _known_contacts(ctx, Customer, rows)

    def write(self, ctx: _Context, ch: ChangeSet, rows: list[_Row]) -> None:
        """What create_customer persists; segment counts are refreshed once per batch."""
        actor = ctx.actor
        owner = {"company": actor.company_id, "assigned_to": actor.member_id}
        made = _bulk_create(ch, Customer, [{**owner, **r.values} for r in rows])
        _bind_keys(ctx, ch, "customers", [(r.key, c.id) for r, c in zip(rows, made, strict=True)])
        recount_company(actor.company_id)

    def export_rows(self, actor: Actor) -> Iterator[list[str]]:
        query = Customer.scoped(actor).order_by(Customer.id)
        for c in query.iterator():
            cells = (
                f"{REF_PREFIX['customer']}{c.id}",
                *(c.name, c.email, c.phone, c.company_name, c.industry, ",".join(c.tags or [])),
            )
            yield [_cell(v) for v in cells]


class _Orders(_Kind):
    def parse(self, ctx: _Context, raw: dict[str, str]) -> tuple[dict[str, Any], str]:
        customer = _text(raw, "customer")
        if customer is None:
            raise ValidationError("customer", "a value is required", hint="customer=C12")
        amount = parse_money(_text(raw, "amount"), "amount")
        if amount <= 0:
            raise ValidationError("amount", "must be more than 0", hint="amount=12000")
        cost, date = _text(raw, "cost"), _text(raw, "date")
        moment = parse_datetime(date, "date", tz=ctx.company.timezone) if date else utcnow()
        if (moment - utcnow()).total_seconds() > FUTURE_SLACK:
            raise ValidationError("date", "an order cannot be in the future", hint="date=today")
        # no reference: derive one from what the row says, so that a repeat is still a no-op
        digest = hashlib.sha1(f"{customer.lower()}|{amount}|{date or ''}".encode()).hexdigest()
        ref = clean_text(_text(raw, "ref"), "ref", 100) or f"csv:{digest[:24]}"
        values = {
            "customer": customer,
            "amount": amount,
            "cost": parse_money(cost, "cost") if cost else None,
            "ordered_at": moment,
            "external_ref": ref,
        }
        return values, ref

    def resolve(self, ctx: _Context, rows: list[_Row]) -> list[tuple[_Row, CRMError]]:
        """Customer cells (email, C-ref or id) to customers, and refs that belong to another
        customer's order: a few queries per batch."""
        company = ctx.actor.company_id
        wanted: dict[str, tuple[str, Any]] = {}  # cell -> ("email", email) | ("id", id)
        failed: dict[str, CRMError] = {}
        for cell in {r.values["customer"] for r in rows}:
            try:
                if "@" in cell:
                    wanted[cell] = ("email", parse_email(cell, "customer"))
                elif cell.isdigit():
                    wanted[cell] = ("id", int(cell))
                else:
                    wanted[cell] = ("id", parse_ref(cell, "customer", kinds=("customer",)).id)
            except ValidationError as exc:
                failed[cell] = exc
        emails = [v for kind, v in wanted.values() if kind == "email"]
        ids = [v for kind, v in wanted.values() if kind == "id"]
        found = list(
            Customer.scoped(company).where(Customer.email.in_(emails) | Customer.id.in_(ids))
        )
        by_id = {c.id: c for c in found}
        by_email: dict[str, list[Customer]] = {}
        for c in found:
            by_email.setdefault(c.email or "", []).append(c)
        resolved: dict[str, Customer] = {}
        for cell, (kind, value) in wanted.items():
            matches = by_email.get(value, []) if kind == "email" else [by_id.get(value)]
            matches = [m for m in matches if m is not None]
            if len(matches) == 1:
                resolved[cell] = matches[0]
            elif matches:
                refs = ", ".join(f"C{m.id}" for m in sorted(matches, key=lambda m: m.id))
                failed[cell] = ValidationError(
                    "customer",
                    f"{value} belongs to {len(matches)} customers ({refs})",
                    hint="customer=C12",
                )
            else:
                what = (
                    f"no customer has the email {value}"
                    if kind == "email"
                    else f"C{value} not found"
                )
                failed[cell] = NotFound(f"customer: {what}", field="customer")
        refs = dict(
            Order.scoped(company, Order.external_ref, Order.customer)
            .where(Order.external_ref.in_([r.key for r in rows]))
            .tuples()
        )
        out: list[tuple[_Row, CRMError]] = []
        for row in rows:
            cell = row.values["customer"]
            customer = resolved.get(cell)
            if customer is None:
                out.append((row, failed[cell]))
            elif refs.get(row.key, customer.id) != customer.id:
                out.append((row, Conflict(
                    f"ref: {row.key} is already an order of C{refs[row.key]}, "
                    f"not of C{customer.id}", field="ref")))  # fmt: skip
            elif not permissions.can_edit(ctx.actor, customer):
                out.append((row, PermissionDenied(
                    f"customer: C{customer.id} is assigned to someone else; only its "
                    "assignee, managers and admins may add orders", field="customer")))  # fmt: skip
            else:
                row.values["customer"] = customer.id
        return out

    def known(self, ctx: _Context, rows: list[_Row]) -> set[str]:
        company = ctx.actor.company_id
        query = Order.scoped(company, Order.external_ref).where(
            Order.external_ref.in_([r.key for r in rows])
        )
        found = {ref for (ref,) in query.tuples()}
        # a row without a reference is also present when an order without one has the same
        # customer, amount and time (an exported order that was made in Slack or the API)
        bare = [r for r in rows if r.key.startswith("csv:")]
        if bare:
            same = set(
                Order.scoped(company, Order.customer, Order.amount, Order.ordered_at)
                .where(
                    Order.external_ref.is_null()
                    & Order.customer.in_(list({r.values["customer"] for r in bare}))
                )
                .tuples()
            )
            found.update(
                r.key
                for r in bare
                if (r.values["customer"], r.values["amount"], r.values["ordered_at"]) in same
            )
        return found

    def write(self, ctx: _Context, ch: ChangeSet, rows: list[_Row]) -> None:
        """What add_order persists; metrics (and through them segment counts) are refreshed
        once per batch with the set-based company recompute."""
        from crm.campaigns.conversions import attribute_orders
        from crm.customer_value import recompute_company

        orders = _bulk_create(
            ch, Order, [{"company": ctx.actor.company_id, **r.values} for r in rows]
        )
        attribute_orders(orders)  # campaigns these orders answer are credited (SPEC 6)
        recompute_company(ctx.actor.company_id)

    def export_rows(self, actor: Actor) -> Iterator[list[str]]:
        # a customer is written by email when that email names exactly one customer
        shared = {
            email
            for (email,) in Customer.scoped(actor, Customer.email)
            .where(Customer.email.is_null(False))
            .group_by(Customer.email)
            .having(fn.COUNT(Customer.id) > 1)
            .tuples()
        }
        query = (
            Order.scoped(actor, Order, Customer.email)
            .join(Customer)
            .order_by(Order.ordered_at, Order.id)
        )
        for o in query.iterator():
            email = o.customer.email
            yield [
                email if email and email not in shared else f"C{o.customer_id}",
                str(o.amount),
                _cell(o.cost),
                o.ordered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                o.external_ref or "",
            ]


_HANDLERS: dict[str, _Kind] = {"leads": _Leads(), "customers": _Customers(), "orders": _Orders()}
