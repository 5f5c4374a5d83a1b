"""Company B's world for the tenancy property test (tests/test_tenancy.py), and the check
that one call from company A neither reaches nor reveals it.

Kept apart from the registry of cases so that each file stays readable; see the test module's
docstring for the property itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from peewee import Model, Query

from crm import (
    communications,
    customer_value,
    customers,
    followups,
    importexport,
    leads,
    opportunities,
    permissions,
    segments,
    tokens,
)
from crm.acting import Actor
from crm.clock import utcnow
from crm.errors import CRMError
from crm.models import (
    ALL_MODELS,
    ENTITY_MODELS,
    ApiIdempotencyKey,
    AuditLog,
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignOptOut,
    CampaignRecipient,
    Communication,
    Company,
    CustomerPrediction,
    FollowUp,
    IdempotencyKey,
    InsightFit,
    LeadScore,
    Member,
    Order,
    StageChange,
    TenantModel,
)
from tests.conftest import Workspace

MARK = "Zqx"  # every name of B contains it: a string of A's output containing it is a leak
MISSING = 987_654_321  # an id no table holds
NO_CHANGE = "0" * 32


API_KEY = "b-api-key"  # an Idempotency-Key B's integration used: A's use of it is A's own

# --- company B's world, and the ids a case aims at ---------------------------------------------


@dataclass(frozen=True)
class Refs:
    """The ids one call aims at: B's records, or (``missing()``) ids that exist nowhere."""

    lead: int
    customer: int
    opportunity: int
    follow_up: int
    segment: int
    token: int
    member: int
    subject: tuple[str, int]
    entity: tuple[str, int]
    change_id: str
    handle: str  # a member's Slack user id, as a CSV cell names them
    member_email: str
    customer_email: str
    campaign: int = 0

    def missing(self) -> Refs:
        m = MISSING
        return Refs(
            m, m, m, m, m, m, m, (self.subject[0], m), (self.entity[0], m), NO_CHANGE,
            "UZZNOBODY", "nobody@nowhere-b.example", "nobody@nowhere-b.example", campaign=m,
        )  # fmt: skip


@dataclass
class World:
    """B's records, several of each kind in different states (assigned, unassigned, lost,
    won, converted, revoked, inactive...), so state-dependent checks are exercised too."""

    company_id: int
    leads: list[int]
    customers: list[int]
    opportunities: list[int]
    follow_ups: list[int]
    segments: list[int]
    tokens: list[int]
    members: list[int]
    change_ids: list[str]
    handles: list[str]
    member_email: str
    customer_email: str  # used only in cases that must not find it in A
    copy_lead: tuple[str, str]  # (name, email) of a B lead, for duplicate checks in A
    copy_customer_email: str  # A may create a customer with it (a different person)
    lead_key: str
    customer_key: str
    opportunity_key: str
    order_ref: str
    segment_name: str
    campaigns: list[int] = field(default_factory=list)

    def subjects(self) -> list[tuple[str, int]]:
        return (
            [("lead", i) for i in self.leads]
            + [("customer", i) for i in self.customers]
            + [("opportunity", i) for i in self.opportunities]
        )

    def entities(self) -> list[tuple[str, int]]:
        return [
            *self.subjects(),
            *(("followup", i) for i in self.follow_ups),
            *(("segment", i) for i in self.segments),
            *(("token", i) for i in self.tokens),
            *(("member", i) for i in self.members),
        ]

    def refs(self, pick: Callable[[list[Any]], Any] = lambda xs: xs[0]) -> Refs:
        return Refs(
            pick(self.leads), pick(self.customers), pick(self.opportunities),
            pick(self.follow_ups), pick(self.segments), pick(self.tokens), pick(self.members),
            pick(self.subjects()), pick(self.entities()), pick(self.change_ids),
            pick(self.handles), self.member_email, self.customer_email,
            campaign=pick(self.campaigns) if self.campaigns else MISSING,
        )  # fmt: skip


def build_b(ws: Workspace) -> World:
    """Company B's data, made through the services (campaign rows through the models: no
    campaign service exists yet)."""
    admin, rep = ws.actor(ws.admin), ws.actor(ws.rep)
    now = utcnow()
    Member.update(email="rep@globex-b.example").where(Member.id == ws.rep.id).execute()
    changes: list[str] = []

    def keep(record: Any) -> Any:
        changes.append(record.change_id)
        return record

    open_lead = keep(
        leads.create_lead(
            admin, name=f"{MARK} Open Lead", email="open@globex-b.example",
            assigned_to_id=None, idempotency_key="b-lead-key",
        )
    )  # fmt: skip
    rep_lead = leads.create_lead(rep, name=f"{MARK} Rep Lead", email="replead@globex-b.example")
    lost_lead = leads.create_lead(admin, name=f"{MARK} Lost Lead", assigned_to_id=ws.rep.id)
    keep(leads.set_lead_status(admin, lost_lead.id, "lost", reason="price"))
    won_lead = leads.create_lead(admin, name=f"{MARK} Won Lead", company_name=f"{MARK} Ltd")
    converted = keep(leads.convert_lead(admin, won_lead.id))
    rich = customers.create_customer(
        rep, name=f"{MARK} Rich", email="rich@globex-b.example", idempotency_key="b-cust-key"
    )
    keep(
        customers.add_order(
            rep, rich.id, amount=Decimal("25000"), cost=Decimal("10000"),
            ordered_at=now - timedelta(days=100), external_ref="B-REF-1",
        )
    )  # fmt: skip
    customers.add_order(rep, rich.id, amount=Decimal("1500"), external_ref="B-REF-2")
    plain = customers.create_customer(
        admin, name=f"{MARK} Plain", email="plain@globex-b.example", assigned_to_id=None
    )
    customer_value.get_metrics(admin, plain.id)
    deal = opportunities.create_opportunity(
        rep, name=f"{MARK} Deal", customer_id=rich.id, amount=Decimal("5000"),
        idempotency_key="b-opp-key",
    )  # fmt: skip
    lead_deal = opportunities.create_opportunity(
        admin, name=f"{MARK} Lead Deal", lead_id=open_lead.id, amount=Decimal("800"),
        assigned_to_id=None,
    )  # fmt: skip
    lost = opportunities.create_opportunity(
        admin, name=f"{MARK} Lost Deal", customer_id=plain.id, amount=Decimal("700")
    )
    keep(opportunities.mark_lost(admin, lost.id, reason="budget"))
    # a moved close date (cms_close_date_changes)
    opportunities.update_opportunity(admin, lead_deal.id, expected_close_date="2030-01-15")
    won = opportunities.create_opportunity(
        admin, name=f"{MARK} Won Deal", customer_id=plain.id, amount=Decimal("3000")
    )
    keep(opportunities.mark_won(admin, won.id))
    keep(
        communications.log_communication(
            rep, subject_type="lead", subject_id=rep_lead.id, type="call", content=f"{MARK} call"
        )
    )
    communications.log_communication(
        admin, subject_type="opportunity", subject_id=deal.id, type="note", content=MARK
    )
    fu_open = keep(
        followups.create_follow_up(
            admin, subject_type="customer", subject_id=rich.id, title=f"{MARK} call back",
            due_at=now + timedelta(days=2), assigned_to_id=None,
        )
    )  # fmt: skip
    fu_late = followups.create_follow_up(
        rep, subject_type="lead", subject_id=rep_lead.id, title=f"{MARK} late",
        due_at=now - timedelta(hours=3),
    )  # fmt: skip
    fu_deal = followups.create_follow_up(
        rep, subject_type="opportunity", subject_id=deal.id, title=f"{MARK} deal", due_at=now
    )
    seg = keep(segments.create_segment(admin, name=f"{MARK} Bronze", criteria={"tier": "bronze"}))
    old_seg = segments.create_segment(admin, name=f"{MARK} Old", criteria={"orders": {"gte": 1}})
    segments.update_segment(admin, old_seg.id, is_active=False)
    token, _ = tokens.create_token(admin, f"{MARK} integration")
    keep(token)
    revoked, _ = tokens.create_token(admin, f"{MARK} old integration")
    tokens.revoke_token(admin, revoked.id)
    campaign = Campaign.create(
        company=ws.company.id, name=f"{MARK} Campaign", channel="email", segment=seg.id,
        body="Hi {{ name }}", created_by=ws.admin.id,
    )  # fmt: skip
    recipient = CampaignRecipient.create(
        company=ws.company.id, campaign=campaign.id, customer=rich.id, token="b-recipient"
    )
    CampaignEvent.create(company=ws.company.id, recipient=recipient.id, kind="open")
    CampaignOptOut.create(company=ws.company.id, customer=rich.id, channel="sms", source="api")
    sent_campaign = Campaign.create(
        company=ws.company.id, name=f"{MARK} Sent", channel="sms", segment=seg.id, body="Hi",
        status="sent", created_by=ws.admin.id,
    )  # fmt: skip
    b_order = Order.select().where(Order.company == ws.company.id).first()
    CampaignConversion.create(
        company=ws.company.id, campaign=campaign.id, recipient=recipient.id, order=b_order.id,
        amount=b_order.amount, occurred_at=now,
    )  # fmt: skip
    # insight rows through the models: B has too little history for the services to fit
    clv_fit = InsightFit.create(
        company=ws.company.id, kind="clv", sample_size=2, informative=1, needed=30,
        params={"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4, "p": 6.2, "q": 3.7, "gamma": 15.4},
    )  # fmt: skip
    CustomerPrediction.create(
        company=ws.company.id, customer=rich.id, fit=clv_fit.id, repeat_purchases=1,
        p_alive=0.4, expected_purchases=0.2, predicted_clv=Decimal("900"), below_half_at=now,
    )  # fmt: skip
    InsightFit.create(
        company=ws.company.id, kind="lead_score", sample_size=2, informative=1, needed=20,
        params={"won": 1, "lost": 1, "counts": {"source": {"other": [1, 1]}}},
    )  # fmt: skip
    ApiIdempotencyKey.create(company=ws.company.id, key=API_KEY, fingerprint="b" * 64,
                             status=201, response='{"data": {"name": "B"}}')  # fmt: skip
    LeadScore.create(company=ws.company.id, lead=open_lead.id, score=77,
                     reasons=[{"field": "source", "value": "other", "effect": 0.1}])  # fmt: skip
    return World(
        company_id=ws.company.id,
        leads=[open_lead.id, rep_lead.id, lost_lead.id, won_lead.id],
        customers=[rich.id, plain.id, converted.id],
        opportunities=[deal.id, lead_deal.id, lost.id, won.id],
        follow_ups=[fu_open.id, fu_late.id, fu_deal.id],
        segments=[seg.id, old_seg.id],
        tokens=[token.id, revoked.id],
        members=[ws.rep.id, ws.admin.id, ws.manager.id],
        change_ids=changes,
        handles=[ws.rep.slack_user_id, ws.admin.slack_user_id],
        member_email="rep@globex-b.example",
        customer_email="rich@globex-b.example",
        copy_lead=(f"{MARK} Open Lead", "open@globex-b.example"),
        copy_customer_email="plain@globex-b.example",
        lead_key="b-lead-key",
        customer_key="b-cust-key",
        opportunity_key="b-opp-key",
        order_ref="B-REF-1",
        segment_name=seg.name,
        campaigns=[campaign.id, sent_campaign.id],
    )


def fingerprint(company_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the company in every tenant table, and its company row, as values."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        "cms_companies": list(Company.select().where(Company.id == company_id).tuples())
    }
    for model in ALL_MODELS:
        if issubclass(model, TenantModel):
            key = model._meta.primary_key  # the word index has none: all its columns instead
            order = [key] if key else model._meta.sorted_fields
            query = model.select().where(model.company == company_id).order_by(*order)
            rows[model._meta.table_name] = list(query.tuples())
    return rows


def _polymorphic() -> list[tuple[type[TenantModel], Any, Any]]:
    """(model, type column, id column) of every reference by entity type and id."""
    return [
        (Communication, Communication.communicable_type, Communication.communicable_id),
        (FollowUp, FollowUp.followable_type, FollowUp.followable_id),
        (StageChange, StageChange.entity_type, StageChange.entity_id),
        (AuditLog, AuditLog.entity_type, AuditLog.entity_id),
        (IdempotencyKey, IdempotencyKey.entity_type, IdempotencyKey.entity_id),
    ]


def cross_company_references() -> list[str]:
    """Rows of one company that point at a row of another: foreign keys, and the
    ``*_type``/``*_id`` pairs. Each one would be a reference that rule 8 should have refused,
    even when the target itself was left unchanged."""
    found = []
    for model in ALL_MODELS:
        if not issubclass(model, TenantModel):
            continue
        for f in model._meta.fields.values():
            target = getattr(f, "rel_model", None)
            if target is None or not issubclass(target, TenantModel):
                continue
            t = target.alias()
            bad = model.select().join(t, on=(f == t.id)).where(model.company != t.company)
            found += [f"{model.__name__} {r.id}.{f.name}" for r in bad]
    entity_models = {**ENTITY_MODELS, "stage_change": StageChange}
    for model, type_column, id_column in _polymorphic():
        present = {name for (name,) in model.select(type_column).distinct().tuples()}
        for name in sorted(present & set(entity_models)):
            target = entity_models[name]
            if target is not Company and not issubclass(target, TenantModel):
                continue
            t = target.alias()
            other = t.id if target is Company else t.company
            bad = (
                model.select()
                .join(t, on=(id_column == t.id))
                .where((type_column == name) & (model.company != other))
            )
            found += [f"{model.__name__} {r.id} -> {name}" for r in bad]
    return found


# --- company A: actors and its own records that cases point at B from ---------------------------


@dataclass
class Ctx:
    actor: Actor
    a_lead: int
    a_customer: int
    a_opportunity: int
    a_follow_up: int
    b: World
    tmp: Path


def build_a(ws: Workspace) -> tuple[dict[str, Actor], dict[str, int]]:
    """A's actors of every kind, and unassigned records any of them may edit (so a rep's
    refusal by ownership cannot hide what a B reference does)."""
    admin = ws.actor(ws.admin)
    lead = leads.create_lead(admin, name="Ada Lead", assigned_to_id=None)
    customer = customers.create_customer(admin, name="Ada Customer", assigned_to_id=None)
    deal = opportunities.create_opportunity(
        admin, name="Ada Deal", customer_id=customer.id, amount=Decimal(1000), assigned_to_id=None
    )
    follow_up = followups.create_follow_up(
        admin, subject_type="lead", subject_id=lead.id, title="Ada call",
        due_at=utcnow() + timedelta(days=1), assigned_to_id=None,
    )  # fmt: skip
    token, _ = tokens.create_token(admin, "acme integration")
    actors = {
        "admin": admin,
        "rep": ws.actor(ws.rep),
        "token": Actor.for_token(token),
        "system": ws.system,
    }
    return actors, {
        "a_lead": lead.id,
        "a_customer": customer.id,
        "a_opportunity": deal.id,
        "a_follow_up": follow_up.id,
    }


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One call of a use case from A aimed at B. ``expect``: ``not_found`` (NotFound, when
    the role allows the action), ``same`` (whatever a missing id gives, e.g. an empty list),
    ``own`` (no id of B is involved; the call must act on A only; its ``run`` checks that)."""

    name: str
    targets: tuple[str, ...]  # "module.function" names this case exercises
    run: Callable[[Ctx, Refs], Any]
    expect: str = "not_found"
    gate: str | None = None  # capability checked before any lookup
    wording: tuple[str, ...] = ("not found",)  # what the refusal may say (any of them)


# --- checking one case --------------------------------------------------------------------------

_NORMALISE = (
    (re.compile(r"[\w.+-]+@[\w.-]+"), "<email>"),
    (re.compile(r"\bU[A-Z0-9]{5,}\b"), "<user>"),
    (re.compile(r"\d+"), "#"),
)


def _norm(text: str) -> str:
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def _shape(value: Any) -> Any:
    """What a caller can observe of a result, ids kept (B's and missing ids must look alike)."""
    if isinstance(value, importexport.ImportReport):
        rejected = tuple((r.field, _norm(r.reason)) for r in value.rejected)
        return ("report", value.created, value.already_present, rejected)
    if isinstance(value, Model):
        return (type(value).__name__, value.id)
    if isinstance(value, list | tuple):
        return tuple(_shape(v) for v in value)
    return value


def outcome_of(call: Callable[[], Any]) -> tuple[tuple[Any, ...], Any]:
    try:
        result = call()
    except CRMError as exc:
        return ("raised", type(exc).__name__, exc.field, _norm(exc.message)), exc
    if isinstance(result, Query):
        result = list(result)
    return ("returned", _shape(result)), result


def _assert_nothing_of_b(value: Any, b: int, seen: set[int] | None = None) -> None:
    """No row of company B, and no B name, anywhere in what a call returned or raised."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, str):
        assert MARK not in value, f"B's data in output: {value[:200]!r}"
    elif isinstance(value, Model):
        company = value.id if isinstance(value, Company) else getattr(value, "company_id", None)
        assert company != b, f"a row of company B came back: {value!r}"
    elif isinstance(value, BaseException):
        _assert_nothing_of_b(str(value), b, seen)
        _assert_nothing_of_b(getattr(value, "candidates", None), b, seen)
    elif isinstance(value, dict):
        for item in value.values():
            _assert_nothing_of_b(item, b, seen)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _assert_nothing_of_b(item, b, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _assert_nothing_of_b(getattr(value, f.name), b, seen)


def _check_actor(case: Case, ctx: Ctx, refs: Refs) -> bool:
    """The outcome checks for one actor; returns whether the call went through (wrote)."""
    b = ctx.b.company_id
    outcome, result = outcome_of(lambda: case.run(ctx, refs))
    _assert_nothing_of_b(result, b)
    allowed = case.gate is None or permissions.has(ctx.actor, case.gate)
    if case.expect == "own":
        expected = ("returned",) if allowed else ("raised", "PermissionDenied")
        assert outcome[: len(expected)] == expected, outcome
        return outcome[0] == "returned"
    missing, missing_result = outcome_of(lambda: case.run(ctx, refs.missing()))
    _assert_nothing_of_b(missing_result, b)
    assert outcome == missing, f"B's records are told apart from missing ones: {outcome}"
    if case.expect == "not_found" and allowed:
        if outcome[0] == "returned":  # an import: the row is rejected, nothing written
            _, (_, created, present, rejected) = outcome
            assert (created, present, len(rejected)) == (0, 0, 1), outcome
            message = rejected[0][1]
        else:
            assert outcome[1] == "NotFound", outcome
            message = outcome[3]
        assert any(w in message.lower() for w in case.wording), message
    return outcome[0] == "returned"


def check_case(case: Case, ctxs: dict[str, Ctx], refs: Refs) -> list[str]:
    """Run ``case`` as each actor; returns what went wrong (empty: the property holds).

    B's fingerprint is taken once around all actors (it is the slow part on PostgreSQL);
    the links check runs only when a call went through (a refused one rolled back).
    """
    failures = []
    b = next(iter(ctxs.values())).b.company_id
    before = fingerprint(b)
    wrote = False
    for kind, ctx in ctxs.items():
        try:
            wrote |= _check_actor(case, ctx, refs)
        except AssertionError as exc:
            failures.append(f"{case.name} as {kind}: {exc}")
    if fingerprint(b) != before:
        failures.append(f"{case.name} as {', '.join(ctxs)}: changed company B's rows")
    if wrote and (links := cross_company_references()):
        failures.append(f"{case.name} as {', '.join(ctxs)}: linked A's rows to B's: {links}")
    return failures
