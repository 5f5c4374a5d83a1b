"""The edit modals (``/crm edit L12``, the Edit button on cards): opening one, filled in, and
its submission, read like ``/crm <kind> set`` with the fields the member changed.

A submission changes only what differs from what the modal was filled in with, through the
same :data:`bot.listeners.commands.edit.EDITABLE` table as ``set`` (so the modal and the
command accept the same words and name the same fields), as one audited change with a
receipt and Undo. It needs no idempotency key: applying the same values twice changes
nothing the second time (a double submit answers "nothing changed").
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.edit_modals import EDIT_VIEW_PREFIX, edit_modal, initial_values
from bot.blocks.modals import Origin, submitted_values
from bot.errors import request_id_of
from bot.listeners.commands.crm import CommandContext
from bot.listeners.commands.edit import EDITABLE, segment_changes
from bot.listeners.commands.listing import as_typed
from bot.listeners.views.submission import Created, after_write, errors_for
from crm import permissions, segments
from crm.acting import Actor
from crm.cards import people_of
from crm.errors import CRMError, ValidationError
from crm.models import CustomerSegment, FollowUp
from crm.parsing import parse_ref
from crm.search import MODELS
from crm.tenancy import fetch, ref_label

EDIT_KINDS = ("lead", "opportunity", "customer", "followup", "segment")
_MODELS: dict[str, Any] = {**MODELS, "followup": FollowUp, "segment": CustomerSegment}
_FIRST = {"followup": "title"}
_RELATIONS = {"customer": "for", "lead": "for", "customer_id": "for", "lead_id": "for"}


def edit_view(actor: Actor, ref_text: str, origin: Origin) -> dict[str, Any]:
    """The filled-in edit modal of the record ``ref_text`` names; refused (with the role it
    needs) when the actor may not change it, before anything is typed in vain."""
    ref = parse_ref(ref_text, "ref", kinds=EDIT_KINDS)
    record = fetch(_MODELS[ref.kind], actor, ref.id, ref.kind)
    if ref.kind == "segment":
        permissions.require(actor, "manage_segments")
    else:
        permissions.require_edit(actor, record, ref_label(ref.kind, record.id))
    owner = getattr(record, "assigned_to_id", None)
    assignee = people_of(actor, {owner}).get(owner) if owner else None
    return edit_modal(ref.kind, record, origin, assignee=assignee, tz=actor.tz)


def _apply(kind: str, record_id: int, changed: dict[str, Any], actor: Actor, ctx: Any) -> Any:
    if kind == "segment":
        words = [f"{k}={v or ''}" for k, v in changed.items() if k != "criteria"]
        fields = segment_changes(tuple(words)) if words else {}
        if "criteria" in changed:
            fields["criteria"] = segments.parse_criteria_text(changed["criteria"] or "")
        with as_typed({"is_active": "active"}):
            return segments.update_segment(actor, record_id, **fields)
    editable = EDITABLE[kind]
    with as_typed(editable.typed()):
        fields = {}
        if kind == "opportunity" and "for" in changed:  # the type-ahead of its customer/lead
            whose = parse_ref(changed.pop("for") or "", "for", kinds=("customer", "lead"))
            if whose.kind == "customer":
                fields["customer_id"] = whose.id
            else:  # a deal for a lead has no customer yet
                fields.update(lead_id=whose.id, customer_id=None)
        for option, value in changed.items():
            field, parse = editable.options[option]
            fields[field] = parse((value or "").strip(), option, actor, ctx)
        return editable.update(actor, record_id, **fields)


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    view = body.get("view") or {}
    ref = parse_ref(str(view.get("callback_id", "")).removeprefix(EDIT_VIEW_PREFIX), "ref")
    actor: Actor = context["actor"]
    before, after = initial_values(view), submitted_values(view)
    changed = {k: v for k, v in after.items() if k in before and v != before[k]}
    block_ids = tuple(before)
    ctx = CommandContext(
        client=client,
        respond=None,
        company=context["company"],
        member=context["member"],
        user_id=context.user_id or "",
        channel_id=None,
        trigger_id=None,
        request_id=request_id_of(context),
        body=body,
    )
    try:
        if not changed:
            ack()
            return
        record = _apply(ref.kind, ref.id, changed, actor, ctx)
    except ValidationError as e:
        ack(response_action="errors", errors=errors_for(e, block_ids, block_ids[0], _RELATIONS))
        return
    except CRMError as e:
        first = _FIRST.get(ref.kind, "name")
        ack(response_action="errors", errors=errors_for(e, block_ids, first, _RELATIONS))
        return
    ack()
    change_id = getattr(record, "change_id", None)
    if change_id:
        title = getattr(record, "name", None) or getattr(record, "title", "")
        origin = Origin.load(view.get("private_metadata"))
        done = Created(ref_label(ref.kind, record.id), title, change_id, verb="Changed")
        after_write(client, actor, ctx.user_id, origin, done, ctx.request_id)


def register(app: App) -> None:
    app.view(re.compile("^" + re.escape(EDIT_VIEW_PREFIX)))(submit)
