"""Follow-ups: reminders to do something about a lead, customer or opportunity by a due time.

Rule 5 (a pending follow-up whose due time has passed becomes ``overdue`` without anyone
acting) holds in two layers:

- :func:`mark_overdue` is the scheduler's scan: ONE set-based UPDATE across all companies,
  served by the (status, due_at) index. It is a derived state change, so it is not audited
  (an Undo of a completion restores "pending" or "overdue" as it was, and both read the same).
- between scans, reads never show a stale "pending": :func:`effective_status` and the list
  queries treat pending-with-passed-due as overdue, at the due second exactly.

Snoozing moves the *reminder*, never the due date: ``snoozed_until`` tells the reminder worker
to stay quiet until then, while the follow-up stays as late as it is (an overdue follow-up
remains overdue; lying about lateness would hide it from the manager's view).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from peewee import Case, Expression

from crm import permissions
from crm.acting import Actor
from crm.audit import change, snapshot
from crm.clock import to_utc, utcnow
from crm.errors import Conflict, ValidationError, cleaned, cleaned_fields
from crm.models import PRIORITIES, FollowUp
from crm.parsing import check_text, parse_choice, parse_int
from crm.tenancy import fetch, fetch_for_update, fetch_member, fetch_subject, ref_label

__all__ = [
    "ME",
    "OPEN_STATUSES",
    "cancel_follow_up",
    "complete_follow_up",
    "create_follow_up",
    "effective_status",
    "get_follow_up",
    "list_follow_ups",
    "mark_overdue",
    "snooze_follow_up",
    "update_follow_up",
]

OPEN_STATUSES = ("pending", "overdue")
LIST_FILTERS = ("open", "overdue", "all")
_MAX_NOTES = 5000


class _Default(enum.Enum):
    ME = "me"


ME = _Default.ME
"""Default assignee: the acting member (an API token or the system leaves it unassigned)."""


# --- rule 5 -----------------------------------------------------------------------------------


def mark_overdue(now: datetime) -> int:
    """Pending follow-ups with ``due_at <= now`` become overdue, in every company at once.
    Idempotent; returns how many moved. ``now`` is naive UTC (an aware one is converted)."""
    now = to_utc(now)
    return (
        FollowUp.unscoped_update(
            status="overdue",
            updated_at=now,
            why="rule 5 holds in every company: one scan moves all",
        )
        .where((FollowUp.status == "pending") & (FollowUp.due_at <= now))
        .execute()
    )


def effective_status(fu: FollowUp, now: datetime | None = None) -> str:
    """The status as rule 5 defines it, whether or not the scan has run yet."""
    now = now or utcnow()
    if fu.status == "pending" and fu.due_at <= now:
        return "overdue"
    return fu.status


def _is_overdue(now: datetime) -> Expression:
    return (FollowUp.status == "overdue") | (
        (FollowUp.status == "pending") & (FollowUp.due_at <= now)
    )


# --- validation -----------------------------------------------------------------------------


def _title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("title", "a follow-up needs a title", hint='title="Call back"')
    check_text(title, "title", hint='title="Call back"')
    title = " ".join(title.split())
    if len(title) > 255:
        raise ValidationError("title", "is longer than 255 characters", hint='title="Call back"')
    return title


def _notes(notes: Any, field: str = "notes") -> str | None:
    if notes is None:
        return None
    if not isinstance(notes, str) or len(notes) > _MAX_NOTES:
        raise ValidationError(
            field, f"expected text of up to {_MAX_NOTES} characters", hint=f'{field}="..."'
        )
    return check_text(notes, field).strip() or None


def _moment(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(
            field, "expected a date and time", hint=f'{field}=tomorrow or {field}="fri 10am"'
        )
    return to_utc(value).replace(microsecond=0)


def _permalink(value: Any) -> str | None:
    from crm.communications import validate_url

    return None if value is None else validate_url(value, "permalink")


# --- use cases ------------------------------------------------------------------------------


def create_follow_up(
    actor: Actor,
    *,
    subject_type: str,
    subject_id: int,
    title: str,
    due_at: datetime,
    notes: str | None = None,
    priority: str = "medium",
    assigned_to_id: int | _Default | None = ME,
    permalink: str | None = None,
) -> FollowUp:
    """A follow-up on a lead, customer or opportunity of the actor's company.

    Anyone who can read the subject may add one (it is a note-to-self, not an edit of the
    subject). A due time already passed is accepted and is overdue at once.
    """
    given = cleaned(
        title=lambda: _title(title),
        due=lambda: _moment(due_at, "due"),
        notes=lambda: _notes(notes),
        priority=lambda: parse_choice(priority, "priority", PRIORITIES),
        permalink=lambda: _permalink(permalink),
    )
    title, due, notes, priority = given["title"], given["due"], given["notes"], given["priority"]
    link = given["permalink"]
    now = utcnow()
    with change(actor) as ch:
        subject = fetch_subject(actor, subject_type, subject_id)
        assignee = actor.member_id if assigned_to_id is ME else assigned_to_id
        member = fetch_member(actor, assignee, "assign")
        fu = FollowUp.create(
            company=actor.company_id,
            followable_type=subject_type,
            followable_id=subject.id,
            title=title,
            notes=notes,
            due_at=due,
            priority=priority,
            assigned_to=member.id if member else None,
            status="overdue" if due <= now else "pending",
            permalink=link,
        )
        ch.created(fu)
    fu.change_id = ch.change_id
    return fu


def _open_for_change(actor: Actor, fid: int, verb: str) -> FollowUp:
    fu = fetch_for_update(FollowUp, actor, fid, "followup")
    label = ref_label("followup", fu.id)
    permissions.require_edit(actor, fu, label)
    if fu.status not in OPEN_STATUSES:
        raise Conflict(f"{label} is already {fu.status}; it cannot be {verb}")
    return fu


def complete_follow_up(actor: Actor, fid: int, notes: str | None = None) -> FollowUp:
    """Done, overdue or not. Completing a completed or cancelled one is a Conflict."""
    notes = _notes(notes, "notes")
    with change(actor) as ch:
        fu = _open_for_change(actor, fid, "completed")
        before = snapshot(fu)
        fu.status = "completed"
        fu.completed_at = utcnow()
        fu.completion_notes = notes
        fu.save()
        ch.updated(fu, before, action="complete")
    fu.change_id = ch.change_id
    return fu


def cancel_follow_up(actor: Actor, fid: int) -> FollowUp:
    with change(actor) as ch:
        fu = _open_for_change(actor, fid, "cancelled")
        before = snapshot(fu)
        fu.status = "cancelled"
        fu.save()
        ch.updated(fu, before, action="cancel")
    fu.change_id = ch.change_id
    return fu


def snooze_follow_up(actor: Actor, fid: int, until: datetime) -> FollowUp:
    """Silence reminders until ``until`` (must be in the future); the due time stays."""
    moment = _moment(until, "until")
    if moment <= utcnow():
        raise ValidationError("until", "must be in the future", hint='until="in 2 hours"')
    with change(actor) as ch:
        fu = _open_for_change(actor, fid, "snoozed")
        before = snapshot(fu)
        fu.snoozed_until = moment
        fu.save()
        ch.updated(fu, before, action="snooze")
    fu.change_id = ch.change_id
    return fu


FOLLOW_UP_FIELDS = ("title", "notes", "due_at", "priority", "assigned_to_id")


def update_follow_up(actor: Actor, fid: int, **fields: Any) -> FollowUp:
    """Change an open follow-up's title, notes, due time, priority or assignee in one change.

    A new due time decides the status as creation does (passed: ``overdue`` at once; ahead:
    ``pending`` again) and starts the reminders afresh (count, last reminder and snooze are
    cleared): it is a new occasion, so the overdue reminder may come again. A change that
    changes nothing returns the follow-up with ``change_id`` ``None``. Every given field's
    form is checked before anything is read, so several bad fields are named at once.
    """
    unknown = [k for k in fields if k not in FOLLOW_UP_FIELDS]
    if unknown:
        raise ValidationError(
            unknown[0], "cannot be changed here", hint=", ".join(FOLLOW_UP_FIELDS)
        )
    parsers: dict[str, Callable[[Any], Any]] = {
        "title": _title,
        "notes": _notes,
        "priority": lambda v: parse_choice(v, "priority", PRIORITIES),
        "due_at": lambda v: _moment(v, "due"),
    }
    values = cleaned_fields(parsers, fields)
    due = values.pop("due_at", None)
    with change(actor) as ch:
        fu = _open_for_change(actor, fid, "changed")
        if "assigned_to_id" in fields:
            member = fetch_member(actor, fields["assigned_to_id"], "assign")
            values["assigned_to"] = member.id if member else None
        before = snapshot(fu)
        for name, value in values.items():
            setattr(fu, name, value)
        if due is not None and due != fu.due_at:
            fu.due_at = due
            fu.status = "overdue" if due <= utcnow() else "pending"
            fu.reminder_count, fu.last_reminded_at, fu.snoozed_until = 0, None, None
        if snapshot(fu) == before:
            fu.change_id = None
            return fu
        fu.save()
        ch.updated(fu, before)
    fu.change_id = ch.change_id
    return fu


def get_follow_up(actor: Actor, fid: int) -> FollowUp:
    return fetch(FollowUp, actor, fid, "followup")


def list_follow_ups(
    actor: Actor,
    *,
    assigned_to_id: int | None = None,
    team: bool = False,
    only: str = "open",
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> list[FollowUp]:
    """Overdue first (by rule 5, scan or no scan), then by due time.

    Whose: ``assigned_to_id`` if given; else the whole company with ``team=True``; else the
    acting member's own (an API token or the system, having no own, sees the company's).
    ``only``: ``open`` (pending and overdue), ``overdue``, or ``all``.
    """
    only = parse_choice(only, "only", LIST_FILTERS)
    limit = parse_int(limit, "limit", 1, 500)
    offset = parse_int(offset, "offset", 0)
    now = now or utcnow()
    query = FollowUp.scoped(actor)
    if assigned_to_id is not None:
        member = fetch_member(actor, assigned_to_id, "assignee")
        query = query.where(FollowUp.assigned_to == member.id)
    elif not team and actor.member_id is not None:
        query = query.where(FollowUp.assigned_to == actor.member_id)
    overdue = _is_overdue(now)
    if only == "open":
        query = query.where(FollowUp.status.in_(OPEN_STATUSES))
    elif only == "overdue":
        query = query.where(overdue)
    rank = Case(None, [(overdue, 0), (FollowUp.status == "pending", 1)], 2)
    return list(query.order_by(rank, FollowUp.due_at, FollowUp.id).limit(limit).offset(offset))
