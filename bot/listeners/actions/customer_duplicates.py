"""The buttons of a likely-duplicate customer (SPEC 5.1): "Use C3" keeps the existing record,
"Create anyway" repeats the ``/crm customer add`` with ``allow_duplicate``, under a key
derived from the original command so that a double click still creates one customer."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks.common import ephemeral, escape, section
from bot.blocks.customers import CREATE_ANYWAY_ACTION, USE_EXISTING_ACTION
from bot.errors import request_id_of
from bot.grammar import Command, parse
from bot.listeners.actions.pages import action_context
from bot.listeners.commands import customer
from bot.respond import Reply, respond_later
from crm.errors import ValidationError


def use_existing(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    ref = str(body["actions"][0].get("value") or "")[:40]
    text = f"Kept {ref}: nothing new was created. `/crm customer {ref}` shows it."
    reply = {"replace_original": True, **ephemeral([section(escape(text))], text)}
    respond_later(respond, request_id_of(context), lambda: reply)


def create_anyway(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    ctx = action_context(body, context, respond)
    try:
        saved = json.loads(body["actions"][0].get("value") or "{}")
        cmd = parse(str(saved["text"]))
        key = str(saved["key"])
    except (ValueError, KeyError, TypeError):
        cmd, key = None, ""

    def work() -> Reply:
        if not isinstance(cmd, Command) or cmd.key != ("customer", "add"):
            raise ValidationError("customer", "this button no longer knows what to create")
        reply = customer.create(context["actor"], ctx, cmd, key, allow_duplicate=True)
        return {**reply, "replace_original": True} if reply else None

    respond_later(respond, ctx.request_id, work)


def register(app: App) -> None:
    app.action(USE_EXISTING_ACTION)(use_existing)
    app.action(CREATE_ANYWAY_ACTION)(create_anyway)
