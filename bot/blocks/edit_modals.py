"""The edit modals (SPEC 5.2): one per kind of record, filled in with what the record holds.

Every field's ``block_id`` is the option name of ``/crm <kind> set`` (``value``, ``prob``,
``close``, ``assign``), so a submission is read exactly like a ``set`` command and an error
goes back on the field it names. Values are shown the way a member would type them
(``50000``, ``2026-03-15 14:30`` in their zone). The modal's ``callback_id`` carries the
record's ref (``edit:L12``). Pure functions: no queries, no Slack calls.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.blocks.common import Block, plain
from bot.blocks.modals import (
    Origin,
    modal,
    record_option,
    record_select,
    select_input,
    text_input,
    user_input,
)
from bot.blocks.segments import criteria_text
from crm.clock import to_local
from crm.models import LEAD_SOURCES, OPEN_STAGES, PRIORITIES
from crm.tenancy import ref_label

EDIT_VIEW_PREFIX = "edit:"
_TITLES = {
    "lead": "Edit lead",
    "opportunity": "Edit opportunity",
    "customer": "Edit customer",
    "followup": "Edit follow-up",
    "segment": "Edit segment",
}


def _amount(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(value.quantize(Decimal(1)) if value == value.to_integral_value() else value)


def _date_input(block_id: str, label: str, initial: Any, hint: str) -> Block:
    element: Block = {"type": "datepicker", "action_id": "value"}
    if initial is not None:
        element["initial_date"] = initial.isoformat()
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": True,
        "hint": plain(hint, 2000),
    }


def _assign(assignee: str | None) -> Block:
    return user_input("assign", "Assigned to", initial_user=assignee, hint="Empty: unassigned")


def _contact_fields(record: Any) -> list[Block]:
    return [
        text_input("email", "Email", initial=record.email, optional=True, max_length=254),
        text_input("phone", "Phone", initial=record.phone, optional=True, max_length=40),
        text_input("company", "Company", initial=record.company_name, optional=True),
    ]


def _tags(record: Any) -> Block:
    return text_input(
        "tags", "Tags", initial=", ".join(record.tags or []), optional=True, hint="vip, retail"
    )


def edit_fields(kind: str, record: Any, *, assignee: str | None, tz: str) -> list[Block]:
    """The inputs of ``kind``'s edit modal, filled in from ``record``."""
    if kind == "lead":
        return [
            text_input("name", "Name", initial=record.name, max_length=200),
            *_contact_fields(record),
            select_input("source", "Source", LEAD_SOURCES, initial=record.source),
            text_input(
                "value",
                "Estimated value",
                initial=_amount(record.estimated_value),
                optional=True,
                placeholder="50k",
            ),
            text_input(
                "prob",
                "Probability (%)",
                initial=None if record.probability is None else str(record.probability),
                optional=True,
            ),
            select_input("priority", "Priority", PRIORITIES, initial=record.priority),
            _tags(record),
            _assign(assignee),
        ]
    if kind == "opportunity":
        whose = (
            ref_label("customer", record.customer_id)
            if record.customer_id
            else ref_label("lead", record.lead_id)
            if record.lead_id
            else None
        )
        blocks = [
            text_input("name", "Name", initial=record.name, max_length=200),
            record_select(
                "for",
                "For (customer or lead)",
                ("customer", "lead"),
                initial=record_option(whose) if whose else None,
            ),
            text_input("amount", "Amount", initial=_amount(record.amount), placeholder="120k"),
        ]
        if record.stage in OPEN_STAGES:
            blocks += [
                select_input("stage", "Stage", OPEN_STAGES, initial=record.stage),
                text_input(
                    "prob",
                    "Probability (%)",
                    initial=str(record.probability) if record.probability_explicit else None,
                    optional=True,
                    hint="Empty: the stage's default",
                ),
            ]
        blocks += [
            _date_input(
                "close",
                "Expected close",
                record.expected_close_date,
                "A moved date shows in the weekly digest as slipped",
            ),
            _assign(assignee),
        ]
        return blocks
    if kind == "customer":
        return [
            text_input("name", "Name", initial=record.name, max_length=200),
            *_contact_fields(record),
            text_input("industry", "Industry", initial=record.industry, optional=True),
            _tags(record),
            _assign(assignee),
        ]
    if kind == "followup":
        due = to_local(record.due_at, tz).strftime("%Y-%m-%d %H:%M")
        return [
            text_input("title", "Title", initial=record.title, max_length=255),
            text_input("due", "Due", initial=due, hint="Times are in your time zone"),
            select_input("priority", "Priority", PRIORITIES, initial=record.priority),
            text_input("notes", "Notes", initial=record.notes, multiline=True, optional=True),
            _assign(assignee),
        ]
    if kind == "segment":
        return [
            text_input("name", "Name", initial=record.name, max_length=200),
            text_input(
                "description",
                "Description",
                initial=record.description,
                optional=True,
                multiline=True,
            ),
            select_input(
                "active",
                "Active",
                (("yes", "Yes"), ("no", "No: kept, not counted")),
                initial="yes" if record.is_active else "no",
            ),
            text_input(
                "criteria",
                "Criteria",
                initial=criteria_text(record.criteria),
                hint="tier=gold,platinum churn=high ltv>=20k last_purchase>90d",
            ),
        ]
    raise KeyError(kind)


def edit_modal(kind: str, record: Any, origin: Origin, *, assignee: str | None, tz: str) -> Block:
    ref = ref_label(kind, record.id)
    blocks = edit_fields(kind, record, assignee=assignee, tz=tz)
    return modal(f"{EDIT_VIEW_PREFIX}{ref}", _TITLES[kind], blocks, origin, "Save")


def initial_values(view: dict[str, Any]) -> dict[str, Any]:
    """What each input of ``view`` was filled in with (as :func:`submitted_values` reads the
    submission), so only the fields a member changed are sent to the service."""
    found: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        value = (element.get("initial_option") or {}).get("value")
        for key in ("initial_value", "initial_user", "initial_date"):
            value = element.get(key, value)
        if isinstance(value, str):
            value = value.strip() or None
        found[block.get("block_id")] = value
    return found
