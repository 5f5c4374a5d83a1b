"""The message shortcut **Follow up on this** (callback ``follow_up_on_message``): the New
follow-up modal, titled from the message; the follow-up links back to the message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.common import truncate
from bot.blocks.modals import Origin, followup_modal
from crm.extract import plain_text

CALLBACK_ID = "follow_up_on_message"
TITLE_LENGTH = 120


def title_from(text: str) -> str | None:
    """The message's first non-empty line, shortened: a starting point the member edits."""
    first = next((line.strip() for line in plain_text(text).splitlines() if line.strip()), "")
    return f"Follow up: {truncate(' '.join(first.split()), TITLE_LENGTH)}" if first else None


def open_follow_up(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    message = body.get("message") or {}
    view = followup_modal(
        Origin.of_message(body),
        assignee=context.user_id,
        title=title_from(message.get("text") or ""),
        note="The follow-up will link to this message.",
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App) -> None:
    app.shortcut(CALLBACK_ID)(open_follow_up)
