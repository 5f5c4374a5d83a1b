"""The "Share in channel" button of a ``/crm pipeline`` answer (SPEC 5.1).

The button carries the scope (whose pipeline, which period), not the numbers: the summary is
computed again as the member who clicks, so the channel gets current figures and a button
copied or replayed cannot show what its clicker may not see. The message is posted by the bot
with ``chat.postMessage``; where the bot cannot post, the member is told why.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.common import context as context_block
from bot.blocks.common import ephemeral, section
from bot.blocks.pipeline import SHARE_ACTION
from bot.errors import request_id_of
from bot.listeners.commands.pipeline import Scope, analyse, render
from bot.respond import Reply, respond_later
from crm.acting import Actor


def share(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond
) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    value = str(body["actions"][0].get("value") or "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    user_id = context.user_id or ""

    def work() -> Reply:
        analysis = analyse(actor, Scope.from_value(value))
        message = render(actor, analysis, currency, public=True)
        message["blocks"].append(context_block(f"Shared by <@{user_id}>"))
        target = channel or user_id
        try:
            client.chat_postMessage(channel=target, **message)
        except SlackApiError as e:
            reason = e.response.get("error", "error") if e.response is not None else "error"
            text = (
                f"I could not post in <#{target}> ({reason}). Invite me to the channel "
                "(`/invite @CRM`) and press the button again."
            )
            return {**ephemeral([section(f":warning: {text}")], text), "replace_original": False}
        text = f"Shared in <#{target}>."
        return {
            **ephemeral([section(f":white_check_mark: {text}")], text),
            "replace_original": False,
        }

    respond_later(respond, request_id_of(context), work)


def register(app: App) -> None:
    app.action(SHARE_ACTION)(share)
