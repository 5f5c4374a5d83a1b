"""The New lead modal's submission (``/crm lead``, the New lead and Create lead from message
shortcuts): the fields of ``/crm lead add``, parsed the same way, one lead per view."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import CREATE_ANYWAY, LEAD_VIEW
from bot.listeners.views.submission import Created, Submission, handle, required
from crm import leads
from crm.duplicates import DuplicateFound
from crm.errors import CRMError
from crm.models import Lead
from crm.parsing import parse_money, parse_percent
from crm.tenancy import ref_label

# which field a likely duplicate is shown on, by the reason it matched
_DUPLICATE_BLOCK = {"email": "email", "phone": "phone"}


def prepare(sub: Submission) -> Callable[[], Lead]:
    value, prob = sub.text("value"), sub.text("prob")
    return partial(
        leads.create_lead,
        sub.actor,
        name=required(sub, "name", "a name", "Jane Doe"),
        email=sub.text("email"),
        phone=sub.text("phone"),
        company_name=sub.text("company"),
        source=sub.text("source") or "other",
        estimated_value=None if value is None else parse_money(value, "value"),
        probability=None if prob is None else parse_percent(prob, "prob"),
        priority=sub.text("priority") or "medium",
        assigned_to_id=sub.assignee(),
        allow_duplicate=bool(sub.values.get(CREATE_ANYWAY)),
    )


def duplicate_errors(error: CRMError) -> dict[str, str] | None:
    """A likely twin is shown on the field that matched, with the way through."""
    if not isinstance(error, DuplicateFound) or not error.candidates:
        return None
    first = error.candidates[0]
    reason = " ".join(first.reasons)
    block = next((b for key, b in _DUPLICATE_BLOCK.items() if key in reason), "name")
    message = (
        f"Looks like {first.describe()}. `/crm lead {first.ref}` shows it; "
        "tick “Create anyway” below to create this lead regardless."
    )
    return {block: message[:2000]}


def describe(lead: Lead) -> Created:
    return Created(ref_label("lead", lead.id), lead.name, lead.change_id)


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    handle(
        ack,
        body,
        context,
        client,
        model=Lead,
        prepare=prepare,
        describe=describe,
        default_block="name",
        refusal=duplicate_errors,
    )


def register(app: App) -> None:
    app.view(LEAD_VIEW)(submit)
