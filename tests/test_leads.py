"""Leads: normalisation, duplicates, idempotency, the status workflow, conversion (rule 1),
tenancy (rule 8), permissions and audit/undo, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from crm import audit, duplicates, idempotency, leads, tokens
from crm.db import database
from crm.duplicates import DuplicateFound, find_duplicates, names_close
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.models import AuditLog, Customer, IdempotencyKey, Lead, Opportunity, StageChange
from crm.parsing.names import company_key, normal_company
from tests.conftest import round_trips


def stages(lead_id: int) -> list[tuple[str | None, str]]:
    rows = (
        StageChange.select()
        .where((StageChange.entity_type == "lead") & (StageChange.entity_id == lead_id))
        .order_by(StageChange.id)
    )
    return [(r.from_stage, r.to_stage) for r in rows]


# --- creation and normalisation -------------------------------------------------------------


def test_create_normalises_contacts_and_defaults_the_assignee(acme):
    rep = acme.actor(acme.rep)
    with time_machine.travel("2026-03-02 09:00:00Z", tick=False):
        lead = leads.create_lead(
            rep,
            name="  Jane   Doe ",
            email="<mailto:Jane.Doe@Example.COM|Jane.Doe@Example.COM>",
            phone="097 123 4567",
            company_name="Zambeef",
            source="Cold Call",
            estimated_value=Decimal("50000"),
            probability=40,
            priority="HIGH",
            tags=["VIP", "vip", " retail "],
        )
    stored = Lead.get_by_id(lead.id)
    assert stored.name == "Jane Doe"
    assert stored.email == "jane.doe@example.com"
    assert stored.phone == "+260971234567"  # the company's region (ZM) reads the local form
    assert (stored.source, stored.priority, stored.status) == ("cold_call", "high", "new")
    assert stored.estimated_value == Decimal("50000.00") and stored.probability == 40
    assert stored.tags == ["vip", "retail"]
    assert stored.assigned_to_id == acme.rep.id
    row = StageChange.get(StageChange.entity_id == lead.id)
    assert (row.from_stage, row.to_stage, row.actor_id) == (None, "new", acme.rep.id)
    assert row.changed_at == datetime(2026, 3, 2, 9, 0)
    created = AuditLog.get(
        (AuditLog.change_id == lead.change_id) & (AuditLog.entity_type == "lead")
    )
    assert created.action == "create" and created.changes["email"] == [None, stored.email]


def test_assignee_can_be_left_empty_or_given(acme):
    unassigned = leads.create_lead(acme.actor(acme.rep), name="Nobody's", assigned_to_id=None)
    assert unassigned.assigned_to_id is None
    given = leads.create_lead(acme.actor(acme.admin), name="Given", assigned_to_id=acme.rep2.id)
    assert given.assigned_to_id == acme.rep2.id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "A", "email": "jane@"}, "email"),
        ({"name": "A", "phone": "12"}, "phone"),
        ({"name": "A", "source": "tv"}, "source"),
        ({"name": "A", "priority": "urgent"}, "priority"),
        ({"name": "A", "probability": 101}, "probability"),
        ({"name": "A", "estimated_value": Decimal("-5")}, "estimated_value"),
        ({"name": "A", "tags": 5}, "tags"),
        ({"name": "A", "assigned_to_id": "x"}, "assign"),
        ({"name": "A", "idempotency_key": "  "}, "idempotency_key"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(acme, kwargs, field):
    with pytest.raises(ValidationError) as err:
        leads.create_lead(acme.actor(acme.rep), **kwargs)
    assert err.value.field == field
    assert err.value.message.startswith(f"{field}:")
    assert Lead.select().count() == 0 and AuditLog.select().count() == 0


def test_assignee_of_another_company_is_not_found(acme, globex):
    with pytest.raises(NotFound, match="assign"):
        leads.create_lead(acme.actor(acme.admin), name="Jane", assigned_to_id=globex.rep.id)
    assert Lead.select().count() == 0
    lead = leads.create_lead(acme.actor(acme.admin), name="Jane", assigned_to_id=acme.rep.id)
    with pytest.raises(NotFound, match="not found"):
        leads.assign_lead(acme.actor(acme.admin), lead.id, globex.rep.id)
    assert Lead.get_by_id(lead.id).assigned_to_id == acme.rep.id
    assert AuditLog.select().where(AuditLog.action == "update").count() == 0


def test_a_lead_of_another_company_is_not_found(acme, globex):
    lead = leads.create_lead(acme.actor(acme.admin), name="Jane")
    other = globex.actor(globex.admin)
    for attempt in (
        lambda: leads.get_lead(other, lead.id),
        lambda: leads.set_lead_status(other, lead.id, "contacted"),
        lambda: leads.update_lead(other, lead.id, name="Stolen"),
        lambda: leads.convert_lead(other, lead.id),
    ):
        with pytest.raises(NotFound, match=f"L{lead.id} not found"):
            attempt()
    assert Lead.get_by_id(lead.id).name == "Jane"
    assert Lead.get_by_id(lead.id).converted_at is None
    assert leads.list_leads(other) == []


# --- duplicates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"name": "J. Doe", "email": "JANE@example.com"}, "same email"),
        ({"name": "Someone", "phone": "+260 97 1234567"}, "same phone"),
        ({"name": "jane  doe.", "company_name": "ACME, Inc."}, "same name at Acme Ltd"),
        ({"name": "Jane Do", "company_name": "acme"}, "similar name at Acme Ltd"),
        ({"name": "Doe, Jane", "company_name": "Acme"}, "similar name at Acme Ltd"),
    ],
)
def test_likely_duplicate_is_refused_until_create_anyway(acme, second, reason):
    actor = acme.actor(acme.rep)
    first = leads.create_lead(
        actor,
        name="Jane Doe",
        email="jane@example.com",
        phone="0971234567",
        company_name="Acme Ltd",
    )
    with pytest.raises(DuplicateFound) as err:
        leads.create_lead(actor, **second)
    assert err.value.message == f"Possible duplicate: L{first.id} · Jane Doe ({reason})"
    assert [c.record.id for c in err.value.candidates] == [first.id]
    assert err.value.candidates[0].ref == f"L{first.id}"
    assert isinstance(err.value, Conflict) and Lead.select().count() == 1
    anyway = leads.create_lead(actor, allow_duplicate=True, **second)
    assert anyway.id != first.id and Lead.select().count() == 2


def test_no_duplicate_for_other_companies_names_or_workspaces(acme, globex):
    actor = acme.actor(acme.rep)
    leads.create_lead(actor, name="Jane Doe", email="jane@example.com", company_name="Acme")
    leads.create_lead(actor, name="Jane Doe", company_name="Globex")  # same name, other company
    leads.create_lead(actor, name="John Smith", company_name="Acme")  # other name, same company
    leads.create_lead(globex.actor(globex.rep), name="Jane Doe", email="jane@example.com")
    assert Lead.select().count() == 4


def test_same_name_without_company_is_a_likely_duplicate(acme):
    actor = acme.actor(acme.rep)
    first = leads.create_lead(actor, name="Jon Smith")
    with pytest.raises(DuplicateFound, match=f"L{first.id} · Jon Smith \\(similar name\\)"):
        leads.create_lead(actor, name="John Smith")


def test_same_company_is_found_when_its_word_is_also_in_the_email(acme):
    """jane@acme.com at "Acme": the word index keeps "acme" once, at the email's weight, so
    a lookup of company words at the company's weight missed her. The stored company key
    does not depend on the other fields."""
    actor = acme.actor(acme.rep)
    first = leads.create_lead(actor, name="Jane Doe", email="jane@acme.com", company_name="Acme")
    with pytest.raises(DuplicateFound, match=f"L{first.id} · Jane Doe \\(similar name at Acme"):
        leads.create_lead(actor, name="Jane Do", company_name="ACME Ltd")


def test_duplicate_candidates_are_the_same_company_not_a_shared_word(acme):
    """Forty leads at "Bench Co r0".."r39" share the words "bench" and "co": a lead at a
    forty-first such company reads none of them (candidates used to be every lead sharing
    the company's longest word, up to 500 rows on each create)."""
    actor = acme.actor(acme.rep)
    made = [
        leads.create_lead(actor, name=f"Person {n}", company_name=f"Bench Co r{n}")
        for n in range(40)
    ]
    assert made[7].company_key == "bench co r7"

    def candidates(company_name: str) -> list[int]:
        rows = duplicates._CANDIDATES[Lead].models(
            Lead,
            company_id=acme.company.id,
            email=None,
            phone=None,
            company_key=company_key(company_name),
            name_word=None,
            exclude_id=None,
        )
        return [r.id for r in rows]

    assert candidates("Bench Co r40") == []
    assert candidates("BENCH co. r7, Ltd") == [made[7].id]
    renamed = leads.update_lead(actor, made[7].id, company_name="Bench Co r40")
    assert renamed.company_key == "bench co r40" and candidates("Bench Co r40") == [made[7].id]


def test_find_duplicates_orders_strongest_first_and_excludes(acme):
    actor = acme.actor(acme.rep)
    by_name = leads.create_lead(actor, name="Jane Doe", company_name="Acme")
    by_email = leads.create_lead(actor, name="Other", email="jane@example.com")
    found = find_duplicates(
        actor, Lead, name="Jane Doe", email="Jane@Example.com", company_name="Acme"
    )
    assert [d.record.id for d in found] == [by_email.id, by_name.id]
    assert (
        find_duplicates(actor, Lead, name="Jane Doe", company_name="Acme", exclude_id=by_name.id)
        == []
    )
    assert find_duplicates(actor, Lead, name="Jane Doe", company_name="Acme", limit=0) == []


def test_name_and_company_normalisation():
    assert normal_company("ACME, Inc.") == normal_company("acme ltd") == "acme"
    assert normal_company("Company") == "company"  # a legal form alone stays
    assert names_close("jane doe", "doe jane") and names_close("jon smith", "john smith")
    assert not names_close("jane doe", "john smith") and not names_close("", "")


# --- the cost of a create ------------------------------------------------------------------------


def test_an_api_lead_create_sends_six_statements(db, acme, monkeypatch):
    """``POST /cms/crm/leads`` is the integrations' hottest write: its statements are pinned,
    so a query added on the way (a settings read, a second duplicate query, a SELECT after an
    INSERT) fails here instead of surfacing as lost throughput in ``bench/api.py``."""
    _, plaintext = tokens.create_token(acme.system, "website form", "write")

    def create(n: int) -> Lead:
        actor = tokens.authenticate(plaintext)  # what bot/api/auth.py runs on every request
        assert actor is not None
        return leads.create_lead(
            actor,
            name=f"Jane Doe {n}",
            email=f"jane{n}@example.com",
            company_name=f"Acme {n}",
            source="website",
            estimated_value=Decimal("1200"),
        )

    create(0)  # the first one renders (and on PostgreSQL prepares) this connection's statements
    sent: list[str] = []
    run = database.obj.execute_sql

    def counted(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return run(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counted)
    defer = getattr(database.obj, "defer", None)
    if defer is not None:  # PostgreSQL: statements sent with the next one count as well

        def deferred(sql: str, params: Any) -> bool:
            sent.append(sql)
            return bool(defer(sql, params))

        monkeypatch.setattr(database.obj, "defer", deferred)
    trips = round_trips() if db.backend == "postgres" else contextlib.nullcontext([])
    with trips as sent_messages:
        lead = create(1)
    monkeypatch.undo()
    # token, duplicate candidates (one query), lead, its first stage-history row, the two
    # rows' audit rows (one INSERT), the lead's search words
    assert len(sent) == 6, "\n".join(sent)
    if db.backend == "postgres":
        # BEGIN rides with the candidates query, the audit rows and search words with the
        # COMMIT (crm.db.PostgresPool): five round trips for six statements
        assert len(sent_messages) == 5, "\n".join(sent_messages)
        assert sent_messages[-1].endswith("; COMMIT") and sent_messages[1].startswith("BEGIN; ")
    assert Lead.get_by_id(lead.id).email == "jane1@example.com"
    assert AuditLog.select().where(AuditLog.change_id == lead.change_id).count() == 2
    assert stages(lead.id) == [(None, "new")]


# --- idempotency -------------------------------------------------------------------------------


def test_repeated_key_returns_the_first_lead(acme, globex):
    actor = acme.actor(acme.rep)
    first = leads.create_lead(actor, name="Jane", idempotency_key="view-1")
    again = leads.create_lead(actor, name="Jane (edited)", idempotency_key="view-1")
    assert again.id == first.id and again.change_id == first.change_id
    assert again.name == "Jane" and Lead.select().count() == 1
    assert IdempotencyKey.get().entity_id == first.id
    other = leads.create_lead(globex.actor(globex.rep), name="Jane", idempotency_key="view-1")
    assert other.id != first.id  # keys are per company


def test_refused_duplicate_leaves_the_key_free_for_create_anyway(acme):
    actor = acme.actor(acme.rep)
    leads.create_lead(actor, name="Jane", email="jane@example.com")
    with pytest.raises(DuplicateFound):
        leads.create_lead(actor, name="Jane D", email="jane@example.com", idempotency_key="k")
    assert IdempotencyKey.select().count() == 0
    anyway = leads.create_lead(
        actor, name="Jane D", email="jane@example.com", idempotency_key="k", allow_duplicate=True
    )
    assert leads.create_lead(actor, name="Jane D", idempotency_key="k").id == anyway.id


def test_key_of_an_undone_creation_is_refused(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane", idempotency_key="k")
    audit.revert(actor, lead.change_id)
    with pytest.raises(Conflict, match=f"already created L{lead.id}, which has since been removed"):
        leads.create_lead(actor, name="Jane", idempotency_key="k")
    assert Lead.select().count() == 0


def test_remember_without_seen_reports_the_winner(acme):
    """Callers that skip ``seen`` still learn that another submission holds the key."""
    actor = acme.actor(acme.rep)
    winner = leads.create_lead(actor, name="Jane", idempotency_key="k")
    assert idempotency.seen(actor, "k").entity_id == winner.id  # outside a transaction: a read
    assert idempotency.seen(actor, "other") is None
    assert IdempotencyKey.select().count() == 1
    with database.atomic():
        twin = Lead.create(company=acme.company.id, name="Twin")
        held = idempotency.remember(actor, "k", twin, "c0ffee")
    assert held.entity_id == winner.id and held.change_id == winner.change_id


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` on its own connection (peewee keeps one per thread)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            with database.connection_context():
                result["value"] = fn()
        except Exception as exc:  # handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_concurrent_submissions_with_one_key_create_one_lead(db, acme):
    """The second submission waits on the unique key while the first is uncommitted, then
    replays the first lead instead of building a twin."""
    actor = acme.actor(acme.rep)
    with database.atomic():
        first = leads.create_lead(actor, name="Jane", idempotency_key="retry-1")
        thread, result = in_thread(
            lambda: leads.create_lead(actor, name="Jane", idempotency_key="retry-1")
        )
        thread.join(0.5)
        assert thread.is_alive(), "the second submission must wait for the first"
    thread.join(20)
    assert "error" not in result, result.get("error")
    assert result["value"].id == first.id
    assert Lead.select().count() == 1 and StageChange.select().count() == 1


# --- workflow ----------------------------------------------------------------------------------


def test_forward_moves_write_stage_changes_with_actor_and_time(acme):
    rep = acme.actor(acme.rep)
    lead = leads.create_lead(rep, name="Jane")
    with time_machine.travel("2026-03-03 10:00:00Z", tick=False):
        moved = leads.set_lead_status(rep, lead.id, "contacted")
    with time_machine.travel("2026-03-05 10:00:00Z", tick=False):
        leads.set_lead_status(rep, lead.id, "qualified")
        leads.set_lead_status(acme.actor(acme.manager), lead.id, "won")
    assert stages(lead.id) == [
        (None, "new"),
        ("new", "contacted"),
        ("contacted", "qualified"),
        ("qualified", "won"),
    ]
    last = StageChange.select().order_by(StageChange.id.desc()).get()
    assert last.actor_id == acme.manager.id and last.changed_at == datetime(2026, 3, 5, 10)
    row = AuditLog.get((AuditLog.change_id == moved.change_id) & (AuditLog.entity_type == "lead"))
    assert row.changes == {"status": ["new", "contacted"]}


def test_skipping_forward_is_allowed(acme):
    lead = leads.create_lead(acme.actor(acme.rep), name="Quick")
    leads.set_lead_status(acme.actor(acme.rep), lead.id, "won")
    assert stages(lead.id) == [(None, "new"), ("new", "won")]


@pytest.mark.parametrize(
    ("path", "illegal", "allowed"),
    [
        (["qualified"], "new", "won, lost"),
        (["contacted"], "new", "qualified, won, lost"),
        (["lost"], "qualified", "contacted"),
        (["won"], "lost", None),
    ],
)
def test_illegal_moves_name_status_and_the_allowed_moves(acme, path, illegal, allowed):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    for status in path:
        leads.set_lead_status(actor, lead.id, status, reason="budget" if status == "lost" else None)
    with pytest.raises(ValidationError) as err:
        leads.set_lead_status(actor, lead.id, illegal, reason="x" if illegal == "lost" else None)
    assert err.value.field == "status"
    if allowed:
        assert f"it can move to {allowed} (not {illegal})" in err.value.message
    else:
        assert "which is final" in err.value.message
    assert Lead.get_by_id(lead.id).status == path[-1]
    assert len(stages(lead.id)) == 1 + len(path)


def test_lost_needs_a_reason_and_reopening_clears_it(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    with pytest.raises(ValidationError, match="reason: a reason is required"):
        leads.set_lead_status(actor, lead.id, "lost")
    with pytest.raises(ValidationError, match="reason: only a move to lost"):
        leads.set_lead_status(actor, lead.id, "contacted", reason="why not")
    assert Lead.get_by_id(lead.id).status == "new"
    lost = leads.set_lead_status(actor, lead.id, "lost", reason="  went with a competitor ")
    assert (lost.status, lost.lost_reason) == ("lost", "went with a competitor")
    reopened = leads.set_lead_status(actor, lead.id, "contacted")
    assert (reopened.status, reopened.lost_reason) == ("contacted", None)
    assert stages(lead.id)[-2:] == [("new", "lost"), ("lost", "contacted")]


def test_moving_to_the_current_status_changes_nothing(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    leads.set_lead_status(actor, lead.id, "contacted")
    again = leads.set_lead_status(actor, lead.id, "Contacted")
    assert again.change_id is None
    assert len(stages(lead.id)) == 2
    assert AuditLog.select().where(AuditLog.action == "update").count() == 1


def test_update_validates_like_create_and_moves_status_through_the_workflow(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    with pytest.raises(ValidationError, match="converted_at: is not a lead field"):
        leads.update_lead(actor, lead.id, converted_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="probability"):
        leads.update_lead(actor, lead.id, name="Janet", probability=200)
    with pytest.raises(ValidationError, match="lost_reason: a reason is required"):
        leads.update_lead(actor, lead.id, status="lost")
    with pytest.raises(ValidationError, match="lost_reason: only a lost lead"):
        leads.update_lead(actor, lead.id, lost_reason="meh")
    assert Lead.get_by_id(lead.id).name == "Jane"
    updated = leads.update_lead(
        actor,
        lead.id,
        name="Janet",
        phone="0971234567",
        email=None,
        status="lost",
        lost_reason="no budget",
    )
    assert (updated.name, updated.phone, updated.status, updated.lost_reason) == (
        "Janet",
        "+260971234567",
        "lost",
        "no budget",
    )
    assert stages(lead.id)[-1] == ("new", "lost")
    edited = leads.update_lead(actor, lead.id, lost_reason="no budget this year")
    assert edited.lost_reason == "no budget this year"
    with pytest.raises(ValidationError, match="lost_reason: a lost lead keeps a reason"):
        leads.update_lead(actor, lead.id, lost_reason=None)
    assert leads.update_lead(actor, lead.id, name="Janet").change_id is None


# --- permissions ---------------------------------------------------------------------------------


def test_rep_cannot_edit_someone_elses_lead(acme):
    theirs = leads.create_lead(acme.actor(acme.rep2), name="Theirs")
    rep = acme.actor(acme.rep)
    for attempt in (
        lambda: leads.update_lead(rep, theirs.id, name="Mine now"),
        lambda: leads.set_lead_status(rep, theirs.id, "contacted"),
        lambda: leads.assign_lead(rep, theirs.id, acme.rep.id),
        lambda: leads.convert_lead(rep, theirs.id),
    ):
        with pytest.raises(PermissionDenied, match="your role is rep"):
            attempt()
    stored = Lead.get_by_id(theirs.id)
    assert (stored.name, stored.status, stored.converted_at) == ("Theirs", "new", None)
    assert Customer.select().count() == 0
    # unassigned leads are anyone's; managers edit all
    free = leads.create_lead(acme.actor(acme.admin), name="Free", assigned_to_id=None)
    assert leads.assign_lead(rep, free.id, acme.rep.id).assigned_to_id == acme.rep.id
    assert (
        leads.update_lead(acme.actor(acme.manager), theirs.id, priority="high").priority == "high"
    )


# --- listing ---------------------------------------------------------------------------------------


def test_list_is_most_urgent_first_and_filters(acme):
    actor = acme.actor(acme.admin)
    with time_machine.travel("2026-03-01 09:00:00Z", tick=False):
        old_low = leads.create_lead(actor, name="Old low", priority="low")
        won = leads.create_lead(actor, name="Won", priority="high", source="referral")
        leads.set_lead_status(actor, won.id, "won")
    with time_machine.travel("2026-03-02 09:00:00Z", tick=False):
        new_high = leads.create_lead(actor, name="New high", priority="high")
        mine = leads.create_lead(acme.actor(acme.rep), name="Rep's", priority="medium")
    with time_machine.travel("2026-02-01 09:00:00Z", tick=False):
        old_high = leads.create_lead(actor, name="Old high", priority="high")
    ids = [lead.id for lead in leads.list_leads(actor)]
    assert ids == [old_high.id, new_high.id, mine.id, old_low.id, won.id]
    assert [x.id for x in leads.list_leads(actor, status="won")] == [won.id]
    assert won.id not in [x.id for x in leads.list_leads(actor, status="open")]
    assert [x.id for x in leads.list_leads(actor, assigned_to_id=acme.rep.id)] == [mine.id]
    assert [x.id for x in leads.list_leads(actor, source="Referral")] == [won.id]
    assert [x.id for x in leads.list_leads(actor, limit=2, offset=1)] == ids[1:3]
    with pytest.raises(ValidationError, match="limit"):
        leads.list_leads(actor, limit=0)
    with pytest.raises(ValidationError, match="status"):
        leads.list_leads(actor, status="hot")


# --- conversion (rule 1) -----------------------------------------------------------------------


def test_convert_copies_the_lead_once(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(
        actor,
        name="Jane",
        email="jane@example.com",
        phone="0971234567",
        company_name="Acme",
        tags=["vip"],
    )
    leads.set_lead_status(actor, lead.id, "qualified")
    opportunity = Opportunity.create(company=acme.company.id, name="Deal", lead=lead.id)
    with time_machine.travel("2026-03-09 12:00:00Z", tick=False):
        customer = leads.convert_lead(actor, lead.id)
    assert (customer.name, customer.email, customer.phone, customer.company_name) == (
        "Jane",
        "jane@example.com",
        "+260971234567",
        "Acme",
    )
    assert customer.tags == ["vip"] and customer.lead_id == lead.id
    assert customer.assigned_to_id == acme.rep.id
    stored = Lead.get_by_id(lead.id)
    assert stored.status == "won" and stored.converted_at == datetime(2026, 3, 9, 12)
    assert stages(lead.id)[-1] == ("qualified", "won")
    assert Opportunity.get_by_id(opportunity.id).customer_id == customer.id
    convert_row = AuditLog.get(
        (AuditLog.change_id == customer.change_id) & (AuditLog.entity_type == "lead")
    )
    assert convert_row.action == "convert"
    assert convert_row.changes["status"] == ["qualified", "won"]

    with pytest.raises(Conflict) as err:
        leads.convert_lead(acme.actor(acme.manager), lead.id)
    assert err.value.message == f"L{lead.id} was already converted to C{customer.id}"
    assert Customer.select().count() == 1


def test_converting_a_lost_lead_wins_it(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    leads.set_lead_status(actor, lead.id, "lost", reason="silence")
    leads.convert_lead(actor, lead.id)
    stored = Lead.get_by_id(lead.id)
    assert (stored.status, stored.lost_reason) == ("won", None)


def test_undo_of_a_conversion_restores_the_lead(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    customer = leads.convert_lead(actor, lead.id)
    audit.revert(actor, customer.change_id)
    stored = Lead.get_by_id(lead.id)
    assert (stored.status, stored.converted_at) == ("new", None)
    assert Customer.select().count() == 0 and stages(lead.id) == [(None, "new")]
    again = leads.convert_lead(actor, lead.id)  # converting is possible again after the undo
    assert again.lead_id == lead.id


def test_concurrent_conversions_only_one_succeeds(db, acme):
    actor = acme.actor(acme.admin)
    lead = leads.create_lead(actor, name="Jane")
    with database.atomic():
        first = leads.convert_lead(actor, lead.id)
        thread, result = in_thread(lambda: leads.convert_lead(actor, lead.id))
        thread.join(0.5)
        assert thread.is_alive(), "the second conversion must wait for the first"
    thread.join(20)
    assert isinstance(result.get("error"), Conflict), result
    assert result["error"].message == f"L{lead.id} was already converted to C{first.id}"
    assert Customer.select().count() == 1


# --- audit and undo ------------------------------------------------------------------------------


def test_update_is_audited_and_undo_restores_it(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane", priority="low")
    updated = leads.update_lead(actor, lead.id, name="Janet", priority="high", status="contacted")
    row = AuditLog.get((AuditLog.change_id == updated.change_id) & (AuditLog.entity_type == "lead"))
    assert row.changes == {
        "name": ["Jane", "Janet"],
        "priority": ["low", "high"],
        "status": ["new", "contacted"],
    }
    audit.revert(actor, updated.change_id)
    stored = Lead.get_by_id(lead.id)
    assert (stored.name, stored.priority, stored.status) == ("Jane", "low", "new")
    assert stages(lead.id) == [(None, "new")]


def test_undo_of_creation_removes_the_lead_and_its_history(acme):
    actor = acme.actor(acme.rep)
    lead = leads.create_lead(actor, name="Jane")
    audit.revert(actor, lead.change_id)
    assert Lead.get_or_none(Lead.id == lead.id) is None
    assert StageChange.select().count() == 0
