"""The buttons of a likely-duplicate answer (SPEC 5.1), for leads and customers alike: "Use L12"
keeps the existing record, "Create anyway" repeats the ``/crm lead add`` (``customer add``)
with ``allow_duplicate``, under a key derived from the original command so that a double
click still creates one record. The two nouns differ only in their words and their create
function (:data:`NOUNS`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks import customers as customer_blocks
from bot.blocks.common import ephemeral, escape, section
from bot.errors import request_id_of
from bot.grammar import Command, parse
from bot.listeners.actions.pages import action_context
from bot.listeners.commands import customer, lead
from bot.listeners.commands.crm import CommandContext
from bot.respond import Reply, respond_later
from crm.acting import Actor
from crm.errors import ValidationError

Create = Callable[..., Reply]  # (actor, ctx, cmd, key, *, allow_duplicate) -> Reply


@dataclass(frozen=True)
class Noun:
    """What the two buttons of one kind of record need."""

    name: str  # "lead": the command's noun and the field named in a refusal
    use_existing_action: str
    create_anyway_action: str
    create: Create

    def use_existing(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond
    ) -> None:
        ack()
        ref = str(body["actions"][0].get("value") or "")[:40]
        text = f"Kept {ref}: nothing new was created. `/crm {self.name} {ref}` shows it."
        reply = {"replace_original": True, **ephemeral([section(escape(text))], text)}
        respond_later(respond, request_id_of(context), lambda: reply)

    def create_anyway(
        self, ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond
    ) -> None:
        ack()
        ctx = action_context(body, context, respond)
        try:
            saved = json.loads(body["actions"][0].get("value") or "{}")
            cmd = parse(str(saved["text"]))
            key = str(saved["key"])
        except (ValueError, KeyError, TypeError):
            cmd, key = None, ""
        actor: Actor = context["actor"]
        respond_later(respond, ctx.request_id, lambda: self._create(actor, ctx, cmd, key))

    def _create(self, actor: Actor, ctx: CommandContext, cmd: object, key: str) -> Reply:
        if not isinstance(cmd, Command) or cmd.key != (self.name, "add"):
            raise ValidationError(self.name, "this button no longer knows what to create")
        reply = self.create(actor, ctx, cmd, key, allow_duplicate=True)
        return {**reply, "replace_original": True} if reply else None


NOUNS = (
    Noun("lead", lead.USE_EXISTING_ACTION, lead.CREATE_ANYWAY_ACTION, lead.create),
    Noun(
        "customer",
        customer_blocks.USE_EXISTING_ACTION,
        customer_blocks.CREATE_ANYWAY_ACTION,
        customer.create,
    ),
)


def register(app: App) -> None:
    for noun in NOUNS:
        app.action(noun.use_existing_action)(noun.use_existing)
        app.action(noun.create_anyway_action)(noun.create_anyway)
