"""The message shortcut **Create lead from message** (callback ``lead_from_message``): the
New lead modal with the name, email and phone found in the message (:mod:`crm.extract`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import Origin, lead_modal
from crm.extract import extract_contact

CALLBACK_ID = "lead_from_message"


def open_prefilled(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    ack()
    text = (body.get("message") or {}).get("text") or ""
    found = extract_contact(text, context["company"].phone_region or "ZM")
    filled = [
        n for n, v in (("name", found.name), ("email", found.email), ("phone", found.phone)) if v
    ]
    note = (
        f"Prefilled from the message ({', '.join(filled)}); check before creating."
        if filled
        else "Nothing in the message looked like a name, email or phone; fill them in."
    )
    origin = Origin(channel=(body.get("channel") or {}).get("id"))
    view = lead_modal(
        origin,
        assignee=context.user_id,
        name=found.name,
        email=found.email,
        phone=found.phone,
        note=note,
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def register(app: App) -> None:
    app.shortcut(CALLBACK_ID)(open_prefilled)
