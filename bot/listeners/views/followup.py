"""The New follow-up modal's submission (``/crm followup``, the Follow up on this message
shortcut, which links the follow-up to the message's permalink)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import FOLLOWUP_VIEW
from bot.listeners.views.submission import Created, Submission, handle, permalink, required
from crm import followups
from crm.models import FollowUp
from crm.parsing import parse_datetime, parse_ref
from crm.tenancy import ref_label

SUBJECT_KINDS = ("lead", "customer", "opportunity")


def prepare(sub: Submission) -> Callable[[], FollowUp]:
    subject = parse_ref(required(sub, "ref", "a record", "L12, C3 or O7"), "ref", SUBJECT_KINDS)
    due = parse_datetime(required(sub, "due", "a due time", "tomorrow 10am"), "due", sub.actor.tz)
    return partial(
        followups.create_follow_up,
        sub.actor,
        subject_type=subject.kind,
        subject_id=subject.id,
        title=required(sub, "title", "a title", "Send the quote"),
        due_at=due,
        notes=sub.text("notes"),
        priority=sub.text("priority") or "medium",
        assigned_to_id=sub.assignee(),
        permalink=permalink(sub.client, sub.origin, sub.team_domain),
    )


def describe(fu: FollowUp) -> Created:
    on = ref_label(fu.followable_type, fu.followable_id)
    return Created(ref_label("followup", fu.id), f"{fu.title} (on {on})", fu.change_id)


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    handle(
        ack,
        body,
        context,
        client,
        model=FollowUp,
        prepare=prepare,
        describe=describe,
        default_block="title",
        fields={"permalink": "title"},
    )


def register(app: App) -> None:
    app.view(FOLLOWUP_VIEW)(submit)
