"""The **Edit** button on every card (value: the record's ref): opens its edit modal, filled
in (:func:`bot.listeners.views.edit.edit_view`); a refusal (someone else's record) comes back
where the card is."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.blocks.common import EDIT_ACTION
from bot.blocks.modals import Origin
from bot.errors import render_error
from bot.listeners.views.edit import edit_view
from crm.errors import CRMError


def open_edit(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond
) -> None:
    ack()
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id")
    try:
        view = edit_view(context["actor"], str(action.get("value") or ""), Origin(channel))
    except CRMError as e:
        if body.get("response_url"):
            respond(**render_error(e))
        return
    client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App) -> None:
    app.action(EDIT_ACTION)(open_edit)
