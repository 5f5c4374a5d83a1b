"""The buttons of a likely-duplicate answer (SPEC 5.1): "Use L12" keeps the existing record,
"Create anyway" repeats the ``/crm lead add`` with ``allow_duplicate``, under a key derived from
the original command so that a double click still creates one lead."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks.common import ephemeral, escape, section
from bot.errors import request_id_of
from bot.grammar import Command, parse
from bot.listeners.commands import lead
from bot.listeners.commands.crm import CommandContext
from bot.respond import Reply, respond_later
from crm.errors import ValidationError


def use_existing(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    ref = str(body["actions"][0].get("value") or "")[:40]
    text = f"Kept {ref}: nothing new was created. `/crm lead {ref}` shows it."
    reply = {"replace_original": True, **ephemeral([section(escape(text))], text)}
    respond_later(respond, request_id_of(context), lambda: reply)


def create_anyway(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    request_id = request_id_of(context)
    try:
        saved = json.loads(body["actions"][0].get("value") or "{}")
        cmd = parse(str(saved["text"]))
        key = str(saved["key"])
    except (ValueError, KeyError, TypeError):
        cmd, key = None, ""
    ctx = CommandContext(
        client=context.client,
        respond=respond,
        company=context["company"],
        member=context["member"],
        user_id=context.user_id or "",
        channel_id=(body.get("channel") or {}).get("id"),
        trigger_id=body.get("trigger_id"),
        request_id=request_id,
        body=body,
    )

    def work() -> Reply:
        if not isinstance(cmd, Command) or cmd.key != ("lead", "add"):
            raise ValidationError("lead", "this button no longer knows what to create")
        reply = lead.create(context["actor"], ctx, cmd, key, allow_duplicate=True)
        return {**reply, "replace_original": True} if reply else None

    respond_later(respond, request_id, work)


def register(app: App) -> None:
    app.action(lead.USE_EXISTING_ACTION)(use_existing)
    app.action(lead.CREATE_ANYWAY_ACTION)(create_anyway)
