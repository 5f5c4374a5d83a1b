"""The message shortcut **Log to CRM** (callback ``log_to_crm``): the Log communication modal
with the message as its content; the submission adds the message's permalink and files."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import Origin, log_modal
from crm.extract import plain_text

CALLBACK_ID = "log_to_crm"


def open_log(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    message = body.get("message") or {}
    origin = Origin.of_message(body)
    files = f" and its {len(origin.files)} file(s)" if origin.files else ""
    author = message.get("user")
    view = log_modal(
        origin,
        type="message",
        # what a colleague (or the prospect, in a shared channel) wrote came in to us
        direction="outbound" if author == context.user_id else "inbound",
        content=plain_text(message.get("text") or ""),
        note=f"The message's link{files} will be attached. Pick the record it is about.",
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App) -> None:
    app.shortcut(CALLBACK_ID)(open_log)
