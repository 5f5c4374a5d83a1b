"""Follow-ups: rule 5 at the due second, state transitions, tenancy, audit and undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm import followups as fus
from crm.audit import history, revert
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.models import AuditLog, FollowUp, Lead
from tests.conftest import Workspace

NOW = datetime(2026, 3, 10, 9, 0, 0)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False) as traveller:
        yield traveller


def lead(ws: Workspace, **fields) -> Lead:
    return Lead.create(company=ws.company.id, name="Mwila", **fields)


def create(ws: Workspace, subject: Lead, actor=None, **fields) -> FollowUp:
    fields.setdefault("title", "Call back")
    fields.setdefault("due_at", NOW + timedelta(hours=1))
    return fus.create_follow_up(
        actor or ws.actor(ws.rep), subject_type="lead", subject_id=subject.id, **fields
    )


def test_create_defaults_to_the_actor_and_is_audited(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme), notes="  about the quote ")
    assert fu.assigned_to_id == acme.rep.id
    assert (fu.status, fu.priority, fu.notes) == ("pending", "medium", "about the quote")
    rows = history(acme.actor(), "followup", fu.id)
    assert [r.action for r in rows] == ["create"]
    assert rows[0].changes["status"] == [None, "pending"]
    assert rows[0].change_id == fu.change_id


def test_due_in_the_past_is_overdue_at_once(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme), due_at=NOW - timedelta(days=1))
    assert fu.status == "overdue"


def test_rule5_at_the_due_second(acme: Workspace, frozen) -> None:
    due = NOW + timedelta(hours=2)
    fu = create(acme, lead(acme), due_at=due)
    frozen.move_to((due - timedelta(seconds=1)).replace(tzinfo=UTC))
    assert fus.mark_overdue(due - timedelta(seconds=1)) == 0
    assert fus.effective_status(FollowUp.get_by_id(fu.id)) == "pending"
    assert fus.list_follow_ups(acme.actor(acme.rep), only="overdue") == []

    frozen.move_to(due.replace(tzinfo=UTC))
    # before the scan runs, reads already say overdue
    stored = FollowUp.get_by_id(fu.id)
    assert stored.status == "pending" and fus.effective_status(stored) == "overdue"
    assert [f.id for f in fus.list_follow_ups(acme.actor(acme.rep), only="overdue")] == [fu.id]
    assert fus.mark_overdue(due) == 1
    stored = FollowUp.get_by_id(fu.id)
    assert (stored.status, stored.updated_at) == ("overdue", due)
    assert fus.mark_overdue(due) == 0  # idempotent


def test_mark_overdue_spans_companies_and_skips_closed(
    acme: Workspace, globex: Workspace, frozen
) -> None:
    a = create(acme, lead(acme))
    g = create(globex, lead(globex))
    done = create(acme, lead(acme))
    fus.complete_follow_up(acme.actor(acme.rep), done.id)
    later = create(acme, lead(acme), due_at=NOW + timedelta(days=3))
    moved = fus.mark_overdue(NOW + timedelta(hours=1))
    assert moved == 2
    statuses = {f.id: f.status for f in FollowUp.select()}
    assert statuses == {a.id: "overdue", g.id: "overdue", done.id: "completed", later.id: "pending"}


def test_list_orders_overdue_first_then_due(acme: Workspace, frozen) -> None:
    subject = lead(acme)
    soon = create(acme, subject, due_at=NOW + timedelta(hours=1))
    late_stored = create(acme, subject, due_at=NOW - timedelta(hours=5))
    later = create(acme, subject, due_at=NOW + timedelta(days=2))
    late_unscanned = create(acme, subject, due_at=NOW + timedelta(minutes=30))
    other = create(acme, subject, actor=acme.actor(acme.rep2))
    frozen.move_to((NOW + timedelta(minutes=45)).replace(tzinfo=UTC))
    mine = fus.list_follow_ups(acme.actor(acme.rep))
    assert [f.id for f in mine] == [late_stored.id, late_unscanned.id, soon.id, later.id]
    team = fus.list_follow_ups(acme.actor(acme.manager), team=True)
    assert other.id in {f.id for f in team} and len(team) == 5
    theirs = fus.list_follow_ups(acme.actor(acme.rep), assigned_to_id=acme.rep2.id)
    assert [f.id for f in theirs] == [other.id]
    fus.cancel_follow_up(acme.actor(acme.rep), soon.id)
    assert soon.id not in {f.id for f in fus.list_follow_ups(acme.actor(acme.rep))}
    everything = fus.list_follow_ups(acme.actor(acme.rep), only="all")
    assert everything[-1].id == soon.id  # closed ones last
    assert len(fus.list_follow_ups(acme.actor(acme.rep), limit=2, offset=2)) == 1


def test_complete_overdue_then_conflicts(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme), due_at=NOW - timedelta(hours=1))
    done = fus.complete_follow_up(acme.actor(acme.rep), fu.id, notes="sent the quote")
    assert (done.status, done.completed_at, done.completion_notes) == (
        "completed",
        NOW,
        "sent the quote",
    )
    with pytest.raises(Conflict, match=r"F.* is already completed"):
        fus.complete_follow_up(acme.actor(acme.rep), fu.id)
    with pytest.raises(Conflict, match="already completed; it cannot be cancelled"):
        fus.cancel_follow_up(acme.actor(acme.rep), fu.id)
    cancelled = create(acme, lead(acme))
    fus.cancel_follow_up(acme.actor(acme.rep), cancelled.id)
    with pytest.raises(Conflict, match="already cancelled"):
        fus.complete_follow_up(acme.actor(acme.rep), cancelled.id)


def test_revert_completion_restores_open_status(acme: Workspace, frozen) -> None:
    overdue = create(acme, lead(acme), due_at=NOW - timedelta(hours=1))
    done = fus.complete_follow_up(acme.actor(acme.rep), overdue.id, notes="x")
    row = AuditLog.get(AuditLog.change_id == done.change_id)
    assert row.changes["status"] == ["overdue", "completed"]
    revert(acme.actor(acme.rep), done.change_id)
    back = FollowUp.get_by_id(overdue.id)
    assert (back.status, back.completed_at, back.completion_notes) == ("overdue", None, None)

    pending = create(acme, lead(acme))
    done = fus.complete_follow_up(acme.actor(acme.rep), pending.id)
    revert(acme.actor(acme.rep), done.change_id)
    assert FollowUp.get_by_id(pending.id).status == "pending"


def test_snooze_moves_the_reminder_not_the_due_date(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme), due_at=NOW - timedelta(hours=1))
    until = NOW + timedelta(hours=2)
    snoozed = fus.snooze_follow_up(acme.actor(acme.rep), fu.id, until)
    assert (snoozed.snoozed_until, snoozed.due_at, snoozed.status) == (
        until,
        NOW - timedelta(hours=1),
        "overdue",
    )
    [row] = [r for r in history(acme.actor(), "followup", fu.id) if r.action == "snooze"]
    assert row.changes == {"snoozed_until": [None, until.isoformat()]}
    revert(acme.actor(acme.rep), snoozed.change_id)
    assert FollowUp.get_by_id(fu.id).snoozed_until is None
    with pytest.raises(ValidationError, match="until: must be in the future"):
        fus.snooze_follow_up(acme.actor(acme.rep), fu.id, NOW)


def test_foreign_assignee_is_not_found_and_nothing_changes(
    acme: Workspace, globex: Workspace, frozen
) -> None:
    subject = lead(acme)
    before = AuditLog.select().count()
    with pytest.raises(NotFound, match="assign: that member was not found"):
        create(acme, subject, assigned_to_id=globex.rep.id)
    assert FollowUp.select().count() == 0
    assert AuditLog.select().count() == before
    with pytest.raises(NotFound):
        fus.list_follow_ups(acme.actor(acme.rep), assigned_to_id=globex.rep.id)


def test_foreign_subject_and_follow_up_are_not_found(
    acme: Workspace, globex: Workspace, frozen
) -> None:
    with pytest.raises(NotFound, match=r"L.* not found"):
        create(acme, lead(globex))
    theirs = create(globex, lead(globex))
    for call in (fus.get_follow_up, fus.complete_follow_up, fus.cancel_follow_up):
        with pytest.raises(NotFound):
            call(acme.actor(acme.admin), theirs.id)
    assert FollowUp.get_by_id(theirs.id).status == "pending"


def test_unassigned_and_system_follow_ups(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme), actor=acme.system)
    assert fu.assigned_to_id is None
    explicit = create(acme, lead(acme), assigned_to_id=None)
    assert explicit.assigned_to_id is None
    # unassigned: any rep may close it
    fus.complete_follow_up(acme.actor(acme.rep2), fu.id)
    assert {f.id for f in fus.list_follow_ups(acme.system)} == {explicit.id}


def test_only_assignee_or_managers_change_it(acme: Workspace, frozen) -> None:
    fu = create(acme, lead(acme))
    with pytest.raises(PermissionDenied, match=r"F.* is assigned to someone else"):
        fus.complete_follow_up(acme.actor(acme.rep2), fu.id)
    assert fus.complete_follow_up(acme.actor(acme.manager), fu.id).status == "completed"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "  "}, "title: a follow-up needs a title"),
        ({"title": "x" * 256}, "title: is longer than 255"),
        ({"due_at": "tomorrow"}, "due: expected a date and time"),
        ({"priority": "urgent"}, "priority: .* is not one of low, medium, high"),
        ({"permalink": "slack://nowhere"}, "permalink: .* is not an http"),
        ({"notes": 5}, "notes: expected text"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    acme: Workspace, frozen, fields: dict, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        create(acme, lead(acme), **fields)
    assert FollowUp.select().count() == 0


def test_bad_subject_type_and_list_filter(acme: Workspace, frozen) -> None:
    with pytest.raises(ValidationError, match="subject"):
        fus.create_follow_up(
            acme.actor(), subject_type="order", subject_id=1, title="x", due_at=NOW
        )
    with pytest.raises(ValidationError, match=r"only: .* is not one of open, overdue, all"):
        fus.list_follow_ups(acme.actor(), only="late")


def test_aware_due_time_is_stored_as_utc(acme: Workspace, frozen) -> None:
    due = datetime(2026, 3, 11, 10, 0, tzinfo=UTC) + timedelta(hours=0)
    lusaka = due.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Lusaka"))
    fu = create(acme, lead(acme), due_at=lusaka)
    assert FollowUp.get_by_id(fu.id).due_at == datetime(2026, 3, 11, 10, 0)


def test_every_bad_field_is_named_at_once(acme: Workspace, frozen) -> None:
    """A new follow-up with no title, no due time and an unknown priority is refused once,
    naming each; so is an edit with two bad fields, which changes nothing."""
    from crm.errors import InvalidFields

    subject = lead(acme)
    with pytest.raises(InvalidFields) as err:
        create(acme, subject, title=" ", due_at="someday", priority="urgent")
    assert [e.field for e in err.value.errors] == ["title", "due", "priority"]
    assert FollowUp.select().count() == 0

    fu = create(acme, subject)
    with pytest.raises(InvalidFields) as err:
        fus.update_follow_up(acme.actor(acme.rep), fu.id, title="", priority="urgent")
    assert [e.field for e in err.value.errors] == ["title", "priority"]
    assert FollowUp.get_by_id(fu.id).title == "Call back"
