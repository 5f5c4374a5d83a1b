"""The Undo button of every receipt (SPEC 5.1): reverts exactly that change, within 10 minutes,
once, and only for whoever may make that change now (:func:`crm.permissions.require_undo`). The
refusals (too late, already undone, changed since, the role it needs) come from
:func:`crm.audit.revert` and are shown as they are worded there."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks.common import UNDO_ACTION, section
from bot.blocks.common import context as context_block
from bot.errors import request_id_of
from bot.respond import Reply, respond_later
from crm.acting import Actor
from crm.audit import revert


def undo(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    change_id = str(body["actions"][0].get("value") or "")

    def work() -> Reply:
        revert(actor, change_id)
        text = "Undone: that change was reverted."
        return {
            "replace_original": True,
            "text": text,
            "blocks": [
                section(f":leftwards_arrow_with_hook: {text}"),
                context_line(actor),
            ],
        }

    respond_later(respond, request_id_of(context), work)


def context_line(actor: Actor) -> dict[str, Any]:
    return context_block(f"by {actor.label} · the undo is in the record's history (/crm audit)")


def register(app: App) -> None:
    app.action(UNDO_ACTION)(undo)
