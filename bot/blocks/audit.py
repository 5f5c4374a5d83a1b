"""Block Kit for ``/crm audit <ref>``: a record's history, one section per change, a page at a
time (Slack allows 50 blocks and 3000 characters per section; a page stays far below both).

Each entry says who (the audit row's actor label and where they acted from), when (in the
reader's own time zone, written out rather than as a Slack date token so the answer reads
the same in every client and in the text fallback) and what changed, ``before → after``.
Values are shown as people know them: money in the company currency, members as mentions,
long text cut short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import ForeignKeyField

from bot.blocks.common import Block, actions, button, context, escape, section
from crm.models import ENTITY_MODELS, AuditLog, Member
from crm.parsing import format_money

__all__ = [
    "NEWER_ACTION",
    "OLDER_ACTION",
    "PAGE_SIZE",
    "audit_blocks",
    "member_ids",
    "when_local",
]

PAGE_SIZE = 10
MAX_FIELDS = 12  # lines per entry; a create lists every field it set
VALUE_LIMIT = 80
NEWER_ACTION = "audit_page_newer"
OLDER_ACTION = "audit_page_older"
HIDDEN_FIELDS = frozenset({"id", "company"})
ORIGINS = {"slack": "Slack", "api": "the API", "cli": "the command line", "worker": "a job"}
ACTIONS = {"create": "Created", "update": "Changed", "delete": "Deleted", "revert": "Undo"}


def when_local(moment: datetime, tz: str) -> str:
    """A naive-UTC moment in the reader's zone: ``2026-03-15 14:30 CAT``."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.replace(tzinfo=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _member_field(entity_type: str, name: str) -> bool:
    model = ENTITY_MODELS.get(entity_type)
    f = model._meta.fields.get(name) if model is not None else None
    return isinstance(f, ForeignKeyField) and f.rel_model is Member


def _money_field(entity_type: str, name: str) -> bool:
    model = ENTITY_MODELS.get(entity_type)
    f = model._meta.fields.get(name) if model is not None else None
    return f is not None and type(f).__name__ == "MoneyField"


def member_ids(rows: Sequence[AuditLog]) -> set[int]:
    """Every member a page mentions (in member fields), so one query can name them all."""
    ids: set[int] = set()
    for row in rows:
        for name, value in (row.changes or {}).items():
            if _member_field(row.entity_type, name):
                ids.update(
                    v for v in _pair(value) if isinstance(v, int) and not isinstance(v, bool)
                )
    return ids


def _show(entity_type: str, name: str, value: Any, currency: str, slack_ids: dict[int, str]) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if _member_field(entity_type, name) and isinstance(value, int):
        slack = slack_ids.get(value)
        return f"<@{slack}>" if slack else f"member {value}"
    if _money_field(entity_type, name):
        try:
            return format_money(Decimal(str(value)), currency)
        except (InvalidOperation, ValueError):
            pass
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())  # one line per field, whatever the notes looked like
    if len(text) > VALUE_LIMIT:
        text = text[: VALUE_LIMIT - 1] + "…"
    return escape(text)


def _pair(value: Any) -> tuple[Any, Any]:
    """``[before, after]`` as stored; anything else is shown as the new value."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value


def _label(name: str) -> str:
    return name.replace("_", " ")


def _entry(row: AuditLog, tz: str, currency: str, slack_ids: dict[int, str]) -> Block:
    verb = ACTIONS.get(row.action, row.action.replace("_", " ").capitalize())
    origin = ORIGINS.get(row.origin, row.origin)
    head = (
        f"*{verb}* by {escape(row.actor_label or row.actor_type)} via {origin} · "
        f"{when_local(row.created_at, tz)}"
    )
    if row.reverted_at is not None:
        head += " · _undone_"
    lines = [head]
    changes = {k: _pair(v) for k, v in (row.changes or {}).items() if k not in HIDDEN_FIELDS}
    if row.action == "create":  # fields a create left empty say nothing
        changes = {k: v for k, v in changes.items() if v[1] not in (None, "", [])}
    for name, (before, after) in list(changes.items())[:MAX_FIELDS]:
        show_before = _show(row.entity_type, name, before, currency, slack_ids)
        show_after = _show(row.entity_type, name, after, currency, slack_ids)
        if row.action == "create":
            lines.append(f"• {_label(name)}: {show_after}")
        elif row.action == "delete":
            lines.append(f"• {_label(name)}: {show_before}")
        else:
            lines.append(f"• {_label(name)}: {show_before} → {show_after}")
    if len(changes) > MAX_FIELDS:
        lines.append(f"…and {len(changes) - MAX_FIELDS} more fields")
    return section("\n".join(lines))


def audit_blocks(
    *,
    ref: str,
    rows: Sequence[AuditLog],
    offset: int,
    has_more: bool,
    tz: str,
    currency: str,
    slack_ids: dict[int, str],
) -> list[Block]:
    """One page of history, newest first, with Newer/Older buttons when there is more."""
    first, last = offset + 1, offset + len(rows)
    blocks: list[Block] = [section(f":scroll: *History of {escape(ref)}* · changes {first}-{last}")]
    blocks += [_entry(row, tz, currency, slack_ids) for row in rows]
    blocks.append(context(f"Times in {escape(tz)} · newest first"))
    buttons = []
    if offset > 0:
        value = json.dumps({"ref": ref, "offset": max(0, offset - PAGE_SIZE)})
        buttons.append(button("Newer", NEWER_ACTION, value))
    if has_more:
        buttons.append(button("Older", OLDER_ACTION, json.dumps({"ref": ref, "offset": last})))
    if buttons:
        blocks.append(actions(*buttons))
    return blocks
