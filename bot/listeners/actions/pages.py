"""The "Next page" button of long lists (``/crm lead list``, ``/crm opp list``,
``/crm followups``): the button carries the command text and the next offset; the list runs
again from there, as the member who clicked, and replaces the page it sits on."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond

from bot.blocks.lists import PAGE_ACTION, read_page_value
from bot.errors import request_id_of
from bot.grammar import Command, parse
from bot.listeners.commands.crm import CommandContext
from bot.listeners.commands.listing import PAGERS
from bot.respond import Reply, respond_later
from crm.errors import ValidationError


def action_context(body: dict[str, Any], context: BoltContext, respond: Respond) -> CommandContext:
    """A button's request seen as a command's, so that list and create functions written for
    ``/crm`` serve buttons too."""
    return CommandContext(
        client=context.client,
        respond=respond,
        company=context["company"],
        member=context["member"],
        user_id=context.user_id or "",
        channel_id=(body.get("channel") or {}).get("id"),
        trigger_id=body.get("trigger_id"),
        request_id=request_id_of(context),
        body=body,
    )


def next_page(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    ctx = action_context(body, context, respond)
    saved = read_page_value(str(body["actions"][0].get("value") or ""))
    cmd = parse(saved[0]) if saved else None

    def work() -> Reply:
        pager = PAGERS.get(cmd.key) if isinstance(cmd, Command) else None
        if saved is None or pager is None or not isinstance(cmd, Command):
            raise ValidationError("page", "this button no longer knows which list to show")
        reply = pager(cmd, context["actor"], ctx, saved[1])
        return {**reply, "replace_original": True} if reply else None

    respond_later(respond, ctx.request_id, work)


def register(app: App) -> None:
    app.action(PAGE_ACTION)(next_page)
