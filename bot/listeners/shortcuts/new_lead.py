"""The global shortcut **New lead** (callback ``new_lead``): the New lead modal, from
anywhere in Slack. No channel is known, so the receipt comes as a DM."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import Origin, lead_modal

CALLBACK_ID = "new_lead"


def open_new_lead(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    client.views_open(
        trigger_id=body["trigger_id"], view=lead_modal(Origin(), assignee=context.user_id)
    )


def register(app: App) -> None:
    app.shortcut(CALLBACK_ID)(open_new_lead)
