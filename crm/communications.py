"""Communications: calls, emails, meetings, notes, SMS and Slack messages with a lead, customer
or opportunity, and rule 6 (logging one moves "last contacted at" forward).

Anyone in the company may log a communication on any subject they can read: it records a
fact, it does not edit the subject, so a rep may note a call on a colleague's lead. The
"last contacted at" bump is audited with the communication, so one Undo takes both back.
It only ever moves forward (a call logged late, dated last week, does not make a newer
contact look older), guarded in the UPDATE itself so concurrent logs cannot move it back.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from crm.acting import Actor
from crm.audit import ChangeSet, change, snapshot
from crm.clock import to_utc, utcnow
from crm.errors import ValidationError, cleaned
from crm.models import (
    COMMUNICATION_TYPES,
    DIRECTIONS,
    Communication,
    Customer,
    Lead,
    Opportunity,
    TenantModel,
)
from crm.parsing import check_text, parse_choice, parse_int
from crm.tenancy import fetch_subject

__all__ = ["list_communications", "log_communication", "validate_attachment", "validate_url"]

MAX_ATTACHMENTS = 20
MAX_CONTENT = 40_000  # Slack's message limit; longer text is a paste accident
FUTURE_SLACK = timedelta(minutes=5)  # clocks differ a little; a planned call is a follow-up
_SLACK_FILE_RE = re.compile(r"F[A-Z0-9]{6,20}")
_SLACK_LINK_RE = re.compile(r"<(?P<url>[^|>]+)(?:\|[^>]*)?>")


def validate_url(value: Any, field: str) -> str:
    """An http(s) URL with a host (Slack's ``<url|label>`` wrapper removed), at most 500
    characters: what a permalink or an attachment link must look like."""
    hint = f"{field}=https://example.slack.com/archives/C01/p123"
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "expected a link", hint=hint)
    text = value.strip()
    wrapped = _SLACK_LINK_RE.fullmatch(text)
    if wrapped:
        text = wrapped["url"].strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(text) > 500:
        raise ValidationError(field, f"{text[:60]!r} is not an http(s) link", hint=hint)
    if any(ch.isspace() for ch in text):
        raise ValidationError(field, f"{text[:60]!r} contains spaces", hint=hint)
    return text


def validate_attachment(value: Any) -> str:
    """A reference, never file content: a Slack file id (``F0123ABCD``) or a link (a Slack
    permalink or any http(s) URL)."""
    if isinstance(value, str) and _SLACK_FILE_RE.fullmatch(value.strip()):
        return value.strip()
    if isinstance(value, str) and value.strip().lower().startswith(("http", "<http")):
        return validate_url(value, "attachments")
    shown = value[:40] if isinstance(value, str) else type(value).__name__
    raise ValidationError(
        "attachments",
        f"{shown!r} is not a Slack file id or a link",
        hint="attachments=F0123ABCD or attachments=https://example.com/quote.pdf",
    )


def _attachments(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValidationError(
            "attachments", "expected a list of file ids or links", hint='["F0123ABCD"]'
        )
    if len(values) > MAX_ATTACHMENTS:
        raise ValidationError(
            "attachments", f"at most {MAX_ATTACHMENTS} attachments", hint="fewer attachments"
        )
    return list(dict.fromkeys(validate_attachment(v) for v in values))


def _when(value: Any, now: datetime) -> datetime:
    hint = 'at="yesterday 3pm" or at=2026-03-15'
    if value is None:
        return now
    if not isinstance(value, datetime):
        raise ValidationError("at", "expected a date and time", hint=hint)
    moment = to_utc(value).replace(microsecond=0)
    if moment > now + FUTURE_SLACK:
        raise ValidationError("at", "is in the future; plan it with a follow-up instead", hint=hint)
    return moment


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "expected text", hint=f'{field}="..."')
    if len(value) > limit:
        raise ValidationError(field, f"is longer than {limit} characters", hint="a shorter text")
    return check_text(value, field).strip()


def _duration(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError("duration", "expected minutes", hint="duration=30")
    return parse_int(value, "duration", 1, 24 * 60)


def log_communication(
    actor: Actor,
    *,
    subject_type: str,
    subject_id: int,
    type: str,
    content: str = "",
    direction: str = "outbound",
    subject: str | None = None,
    communicated_at: datetime | None = None,
    duration_minutes: int | None = None,
    attachments: list[str] | None = None,
    permalink: str | None = None,
) -> Communication:
    """Record a communication and apply rule 6 to the subject (and, for an opportunity, to
    its lead and customer). Every field's form is checked, so several bad ones are named at
    once."""
    now = utcnow()
    given = cleaned(
        type=lambda: parse_choice(type, "type", COMMUNICATION_TYPES),
        direction=lambda: parse_choice(direction, "direction", DIRECTIONS),
        content=lambda: _text(content, "content", MAX_CONTENT),
        subject=lambda: None if subject is None else (_text(subject, "subject", 255) or None),
        at=lambda: _when(communicated_at, now),
        duration=lambda: _duration(duration_minutes),
        attachments=lambda: _attachments(attachments),
        permalink=lambda: None if permalink is None else validate_url(permalink, "permalink"),
    )
    with change(actor) as ch:
        record = fetch_subject(actor, subject_type, subject_id)
        comm = Communication.create(
            company=actor.company_id,
            communicable_type=subject_type,
            communicable_id=record.id,
            type=given["type"],
            direction=given["direction"],
            subject=given["subject"],
            content=given["content"],
            communicated_at=given["at"],
            duration_minutes=given["duration"],
            attachments=given["attachments"],
            author=actor.member_id,
            permalink=given["permalink"],
        )
        ch.created(comm)
        for touched in _contacted(actor, record):
            _bump(ch, touched, given["at"])
    comm.change_id = ch.change_id
    return comm


def _contacted(actor: Actor, record: TenantModel) -> list[TenantModel]:
    """The subject, plus an opportunity's lead and customer (in the same company)."""
    found: list[TenantModel] = [record]
    if isinstance(record, Opportunity):
        for model, rid in ((Lead, record.lead_id), (Customer, record.customer_id)):
            if rid is not None:
                other = model.scoped(actor).where(model.id == rid).first()
                if other is not None:
                    found.append(other)
    return found


def _bump(ch: ChangeSet, record: TenantModel, when: datetime) -> None:
    """Move ``last_contacted_at`` forward to ``when``; never back. The WHERE guard decides,
    so of two concurrent logs the later contact wins whatever the commit order."""
    model = type(record)
    column = model.last_contacted_at
    moved = (
        model.scoped_update(record.company_id, last_contacted_at=when, updated_at=utcnow())
        .where((model.id == record.id) & (column.is_null() | (column < when)))
        .execute()
    )
    if moved:
        before = snapshot(record)
        record.last_contacted_at = when
        ch.updated(record, before)


def list_communications(
    actor: Actor, subject_type: str, subject_id: int, limit: int = 10, offset: int = 0
) -> list[Communication]:
    """The subject's communications, newest first."""
    record = fetch_subject(actor, subject_type, subject_id)
    limit = parse_int(limit, "limit", 1, 200)
    offset = parse_int(offset, "offset", 0)
    return list(
        Communication.scoped(actor)
        .where(
            (Communication.communicable_type == subject_type)
            & (Communication.communicable_id == record.id)
        )
        .order_by(Communication.communicated_at.desc(), Communication.id.desc())
        .limit(limit)
        .offset(offset)
    )
