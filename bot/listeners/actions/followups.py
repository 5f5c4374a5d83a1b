"""The buttons of a reminder DM (SPEC 5.2, 5.3): Done, Snooze (1 hour, 1 day, next week), Open.

Done and Snooze call :mod:`crm.followups` as the member who clicked, then ``chat.update`` the
very message the button sits on, so an old reminder never offers a Done that is already done.
Refusals (someone else's follow-up, already completed) come back as an ephemeral message
worded by the service.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.blocks.common import ephemeral, escape, fallback, section
from bot.blocks.followups import (
    DONE,
    OPEN,
    SNOOZE_ACTION,
    reminder_done_blocks,
    reminder_snoozed_blocks,
    when,
)
from bot.errors import request_id_of
from bot.respond import Reply, respond_later
from crm import followups, reminders
from crm.acting import Actor
from crm.clock import utcnow
from crm.parsing import parse_record_id
from crm.tenancy import ref_label


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def _fid(text: str) -> int:
    return parse_record_id(text, "followup")


def _update(
    client: WebClient, body: dict[str, Any], respond: Respond, text: str, blocks: list
) -> None:
    """Edit the message the button sits on: ``chat.update`` for the bot's DM, the
    ``response_url`` for an ephemeral message (which has no ``ts`` to update)."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    if channel and ts and not container.get("is_ephemeral"):
        client.chat_update(channel=channel, ts=ts, text=fallback(text), blocks=blocks)
    else:
        respond(replace_original=True, text=fallback(text), blocks=blocks)


def _subject(fu: Any) -> str:
    return ref_label(fu.followable_type, fu.followable_id)


def done(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond
) -> None:
    ack()
    actor: Actor = context["actor"]

    def work() -> Reply:
        fu = followups.complete_follow_up(actor, _fid(_value(body)))
        _update(
            client,
            body,
            respond,
            f"{ref_label('followup', fu.id)} done",
            reminder_done_blocks(
                follow_up_id=fu.id,
                title=fu.title,
                by_user=body["user"]["id"],
                change_id=fu.change_id,
            ),
        )
        return None

    respond_later(respond, request_id_of(context), work)


def snooze(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond
) -> None:
    ack()
    actor: Actor = context["actor"]

    def work() -> Reply:
        fid_text, _, choice = _value(body).partition(":")
        until = reminders.snooze_until(choice, utcnow(), actor.tz)
        fu = followups.snooze_follow_up(actor, _fid(fid_text), until)
        _update(
            client,
            body,
            respond,
            f"{ref_label('followup', fu.id)} snoozed",
            reminder_snoozed_blocks(
                follow_up_id=fu.id, title=fu.title, until=until, subject=_subject(fu)
            ),
        )
        return None

    respond_later(respond, request_id_of(context), work)


def open_follow_up(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    """The follow-up's details, to the clicker only (a URL button also opens its message)."""
    ack()
    actor: Actor = context["actor"]

    def work() -> Reply:
        fu = followups.get_follow_up(actor, _fid(_value(body)))
        status = followups.effective_status(fu)
        lines = [
            f"*{ref_label('followup', fu.id)}* {escape(fu.title)} · {status}",
            f"Due {when(fu.due_at)} · on {_subject(fu)} · priority {fu.priority}",
        ]
        if fu.notes:
            lines.append(f"> {escape(fu.notes[:1000])}")
        if fu.snoozed_until and fu.snoozed_until > utcnow():
            lines.append(f"Snoozed until {when(fu.snoozed_until)}")
        text = f"{ref_label('followup', fu.id)}: {fu.title}"
        return {**ephemeral([section("\n".join(lines))], text), "replace_original": False}

    respond_later(respond, request_id_of(context), work)


def register(app: App) -> None:
    app.action(DONE)(done)
    app.action(SNOOZE_ACTION)(snooze)
    app.action(OPEN)(open_follow_up)
