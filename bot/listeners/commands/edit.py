"""``/crm lead|opp|customer|followup|segment set <ref> field=value ...``: correct a record.

Each kind maps the option names of its ``add`` command (SPEC 5.1) onto the fields of its
update service (:func:`crm.leads.update_lead` and friends), which validate, check the role
and write ONE audited change; the receipt lists what changed (before → after) and carries
Undo. An empty value (``email=""``) clears an optional field; ``assign=nobody`` unassigns.
A service's complaint about ``estimated_value`` is reported as ``value``, the word typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.blocks.segments import criteria_text
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import as_typed, written
from bot.listeners.commands.segment import criteria_words
from bot.listeners.commands.values import member_id, ref_id
from crm import audit, companies, customers, followups, leads, opportunities, segments
from crm.acting import Actor
from crm.errors import ValidationError
from crm.parsing import format_money, parse_date, parse_datetime, parse_money, parse_percent
from crm.tenancy import ref_label

UNASSIGN = ("none", "nobody", "")
YES = ("yes", "y", "true", "on", "1")
NO = ("no", "n", "false", "off", "0")

Parse = Callable[[str, str, Actor, CommandContext], Any]


def _text(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return value


def _optional(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return value or None


def _money(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return parse_money(value, option) if value else None


def _percent(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return parse_percent(value, option) if value else None


def _date(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return parse_date(value, option, actor.tz) if value else None


def _moment(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return parse_datetime(value, option, actor.tz)


def _tags(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return [t for t in value.split(",") if t.strip()]


def _member(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
    return None if value.lower() in UNASSIGN else member_id(ctx, value, option)


def _ref_of(kind: str) -> Parse:
    def parse(value: str, option: str, actor: Actor, ctx: CommandContext) -> Any:
        return ref_id(value, kind, option) if value else None

    return parse


@dataclass(frozen=True)
class Editable:
    """One kind of record as ``set`` sees it: option -> (service field, value parser)."""

    kind: str
    options: dict[str, tuple[str, Parse]]
    update: Callable[..., Any]
    title: Callable[[Any], str]

    def fields(self, cmd: Command, actor: Actor, ctx: CommandContext) -> dict[str, Any]:
        if not cmd.options:
            raise ValidationError(
                "fields",
                "nothing to change",
                hint=f"{next(iter(self.options))}=... (any of {', '.join(self.options)})",
            )
        out: dict[str, Any] = {}
        for option, value in cmd.options.items():
            field, parse = self.options[option]
            out[field] = parse(value.strip(), option, actor, ctx)
        return out

    def typed(self) -> dict[str, str]:
        """Service field -> the option a member typed, for error messages."""
        return {field: option for option, (field, _) in self.options.items()}


EDITABLE: dict[str, Editable] = {
    "lead": Editable(
        "lead",
        {
            "name": ("name", _text),
            "email": ("email", _optional),
            "phone": ("phone", _optional),
            "company": ("company_name", _optional),
            "source": ("source", _text),
            "value": ("estimated_value", _money),
            "prob": ("probability", _percent),
            "priority": ("priority", _text),
            "tags": ("tags", _tags),
            "assign": ("assigned_to_id", _member),
        },
        leads.update_lead,
        lambda r: r.name,
    ),
    "opportunity": Editable(
        "opportunity",
        {
            "name": ("name", _text),
            "amount": ("amount", _text),
            "prob": ("probability", _percent),
            "stage": ("stage", _text),
            "close": ("expected_close_date", _date),
            "customer": ("customer_id", _ref_of("customer")),
            "lead": ("lead_id", _ref_of("lead")),
            "assign": ("assigned_to_id", _member),
        },
        opportunities.update_opportunity,
        lambda r: r.name,
    ),
    "customer": Editable(
        "customer",
        {
            "name": ("name", _text),
            "email": ("email", _optional),
            "phone": ("phone", _optional),
            "company": ("company_name", _optional),
            "industry": ("industry", _optional),
            "tags": ("tags", _tags),
            "assign": ("assigned_to_id", _member),
        },
        customers.update_customer,
        lambda r: r.name,
    ),
    "followup": Editable(
        "followup",
        {
            "title": ("title", _text),
            "due": ("due_at", _moment),
            "priority": ("priority", _text),
            "notes": ("notes", _optional),
            "assign": ("assigned_to_id", _member),
        },
        followups.update_follow_up,
        lambda r: r.title,
    ),
}


def _shown(value: Any, field: str, currency: str, people: dict[int, str]) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if field == "assigned_to" and isinstance(value, int):
        return f"<@{people[value]}>" if value in people else "someone"
    if field in ("amount", "estimated_value"):
        return format_money(Decimal(str(value)), currency)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return criteria_text(value)
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


_HIDDEN = frozenset({"probability_explicit", "reminder_count", "last_reminded_at", "snoozed_until"})


def change_lines(actor: Actor, change_id: str | None, currency: str) -> str | None:
    """``value: K50,000 → K60,000`` per field the change set on its record (from the audit
    rows, so the receipt shows exactly what Undo would take back)."""
    if not change_id:
        return None
    rows = audit.change_rows(actor, change_id, "update")
    pairs = [(k, v) for row in rows for k, v in row.changes.items() if k not in _HIDDEN]
    people = companies.slack_user_ids(actor, {x for _, v in pairs for x in v if isinstance(x, int)})
    lines = [
        f"{field.replace('_', ' ')}: {_shown(old, field, currency, people)} → "
        f"{_shown(new, field, currency, people)}"
        for field, (old, new) in pairs
    ]
    return "\n".join(lines[:10]) or None


def set_fields(editable: Editable, cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    record_id = ref_id(cmd.args["ref"], editable.kind)
    with as_typed(editable.typed()):
        fields = editable.fields(cmd, actor, ctx)
        record = editable.update(actor, record_id, **fields)
    change_id = getattr(record, "change_id", None)
    return written(
        ref_label(editable.kind, record.id),
        editable.title(record),
        change_id,
        "Changed",
        "already so; nothing changed",
        detail=change_lines(actor, change_id, ctx.company.currency),
    )


@handles("lead", "set")
def lead_set(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return set_fields(EDITABLE["lead"], cmd, actor, ctx)


@handles("opp", "set")
def opp_set(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return set_fields(EDITABLE["opportunity"], cmd, actor, ctx)


@handles("customer", "set")
def customer_set(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return set_fields(EDITABLE["customer"], cmd, actor, ctx)


@handles("followup", "set")
def followup_set(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return set_fields(EDITABLE["followup"], cmd, actor, ctx)


_SEGMENT_FIELD_RE = re.compile(r"(?P<key>name|description|active)=(?P<value>.*)", re.I | re.S)


def segment_changes(rest: tuple[str, ...]) -> dict[str, Any]:
    """``name=``, ``description=`` and ``active=yes|no`` among the words; whatever else is
    there is the new criteria, which replace the old ones whole (as ``segment add`` reads
    them)."""
    fields: dict[str, Any] = {}
    criteria: list[str] = []
    for word in rest:
        match = _SEGMENT_FIELD_RE.fullmatch(word)
        if match is None:
            criteria.append(word)
            continue
        key, value = match["key"].lower(), match["value"].strip()
        if key == "active":
            if value.lower() not in YES + NO:
                raise ValidationError(
                    "active", f'"{value[:20]}" is not yes or no', hint="active=yes or active=no"
                )
            fields["is_active"] = value.lower() in YES
        else:
            fields[key] = value
    if criteria:
        fields["criteria"] = segments.parse_criteria_text(criteria_words(tuple(criteria)))
    if not fields:
        raise ValidationError(
            "fields",
            "nothing to change",
            hint="name=... active=no, or new criteria such as tier=gold churn=high",
        )
    return fields


@handles("segment", "set")
def segment_set(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    sid = ref_id(cmd.args["ref"], "segment")
    with as_typed({"is_active": "active"}):
        segment = segments.update_segment(actor, sid, **segment_changes(cmd.rest))
    change_id = segment.change_id
    lines = change_lines(actor, change_id, ctx.company.currency)
    count = f"{segment.customer_count} customers now"
    return written(
        ref_label("segment", segment.id),
        segment.name,
        change_id,
        "Changed",
        "already so; nothing changed",
        detail=f"{lines}\n{count}" if lines else count,
    )
