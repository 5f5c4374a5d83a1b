"""The Log communication modal's submission (``/crm log``, the Log to CRM message shortcut).

From a shortcut the communication also carries the message's permalink and its files (as
Slack file ids), so the CRM record leads back to the conversation it came from (SPEC 5.2).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import LOG_VIEW
from bot.listeners.views.submission import Created, Submission, handle, permalink, required
from crm import communications
from crm.models import Communication
from crm.parsing import parse_datetime, parse_duration, parse_ref
from crm.tenancy import ref_label

SUBJECT_KINDS = ("lead", "customer", "opportunity")


def prepare(sub: Submission) -> Callable[[], Communication]:
    subject = parse_ref(required(sub, "ref", "a record", "L12, C3 or O7"), "ref", SUBJECT_KINDS)
    duration, at = sub.text("duration"), sub.text("at")
    from_message = bool(sub.origin.message_ts)
    content = sub.text("content") or ""
    if not from_message:
        content = required(sub, "content", "what was said", "Called about the quote")
    return partial(
        communications.log_communication,
        sub.actor,
        subject_type=subject.kind,
        subject_id=subject.id,
        type=sub.text("type") or ("message" if from_message else "call"),
        direction=sub.text("direction") or "outbound",
        subject=sub.text("subject"),
        content=content,
        duration_minutes=None if duration is None else parse_duration(duration, "duration"),
        communicated_at=None if at is None else parse_datetime(at, "at", sub.actor.tz),
        attachments=list(sub.origin.files) or None,
        permalink=permalink(sub.client, sub.origin, sub.team_domain) if from_message else None,
    )


def describe(comm: Communication) -> Created:
    on = ref_label(comm.communicable_type, comm.communicable_id)
    return Created(on, f"{comm.type} logged", comm.change_id, verb="Logged on")


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    handle(
        ack,
        body,
        context,
        client,
        model=Communication,
        prepare=prepare,
        describe=describe,
        default_block="ref",
        fields={"attachments": "content", "permalink": "content"},
    )


def register(app: App) -> None:
    app.view(LOG_VIEW)(submit)
