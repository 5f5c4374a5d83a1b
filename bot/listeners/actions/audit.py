"""The Newer/Older buttons of a ``/crm audit`` answer: the same message, another page.

The button carries the reference and the offset only; the page is read again as the member
who clicks (scoped to their company), so a replayed button shows nothing it should not.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks.audit import NEWER_ACTION, OLDER_ACTION
from bot.errors import request_id_of
from bot.listeners.commands.audit import audit_page
from bot.respond import Reply, respond_later
from crm.acting import Actor
from crm.errors import ValidationError


def page(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    value = str(body["actions"][0].get("value") or "")

    def work() -> Reply:
        try:
            data = json.loads(value)
            ref, offset = str(data["ref"]), data["offset"]
        except (ValueError, TypeError, KeyError):
            raise ValidationError("page", "that button is damaged", hint="/crm audit L12") from None
        return {**audit_page(actor, ref, offset, currency), "replace_original": True}

    respond_later(respond, request_id_of(context), work)


def register(app: App) -> None:
    app.action(NEWER_ACTION)(page)
    app.action(OLDER_ACTION)(page)
