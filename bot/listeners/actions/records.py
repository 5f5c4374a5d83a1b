"""Record buttons (SPEC 5.2): **open the record** (``open_record``, value ``L12``/``O7``/``C3``/
``F9``), **move an opportunity's stage** (``opp_stage``, value ``{"ref": "O7", "stage":
"proposal"}``), and the follow-up Done / Snooze buttons when they sit on App Home or in a
card opened from it.

Where the answer goes depends on where the button sits:
- on a message (a card posted ephemerally, a DM): through its ``response_url``, the card
  ephemerally (open) or the card replaced in place with the receipt on top (stage);
- on App Home or in a modal, which have no ``response_url``: the card opens as a modal
  (stacked on a modal), a card modal is updated in place, receipts come as a DM (where their
  Undo button works), and App Home is re-published.

Done and Snooze on messages stay with :mod:`bot.listeners.actions.followups`; the listeners
here match only clicks inside views, which is why this module registers before that one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import home_refresh
from bot.blocks.common import Block, ephemeral, escape, receipt, section
from bot.blocks.common import context as context_block
from bot.blocks.customers import customer_card
from bot.blocks.followups import DONE, SNOOZE_ACTION, when
from bot.blocks.leads import OPEN_RECORD, lead_card
from bot.blocks.lists import follow_up_row
from bot.blocks.opportunities import OPP_STAGE, STAGE_LABELS, opportunity_card
from bot.listeners.views.submission import deliver
from bot.respond import answer_click
from crm import cards, followups, opportunities, reminders
from crm.acting import Actor
from crm.cards import people_of
from crm.clock import utcnow
from crm.errors import ValidationError
from crm.models import FollowUp
from crm.parsing import parse_record_id, parse_ref
from crm.tenancy import ref_label

log = logging.getLogger(__name__)

RECORD_KINDS = ("lead", "opportunity", "customer", "followup")
_CARDS = {"lead": lead_card, "opportunity": opportunity_card, "customer": customer_card}
_TITLES = {"lead": "Lead", "opportunity": "Opportunity", "customer": "Customer"}


# --- rendering -------------------------------------------------------------------------------


def follow_up_blocks(actor: Actor, fu: FollowUp) -> list[Block]:
    """A follow-up's card: the list row (with Done while open), notes, and links."""
    people = people_of(actor, {fu.assigned_to_id})
    row = follow_up_row(fu, people.get(fu.assigned_to_id))
    blocks: list[Block] = [section(row.text, accessory=row.accessory)]
    if fu.notes:
        blocks.append(section(f"> {escape(fu.notes[:1000])}"))
    extra = [f"priority {fu.priority}"]
    if fu.snoozed_until and fu.snoozed_until > utcnow():
        extra.append(f"reminders snoozed until {when(fu.snoozed_until)}")
    if fu.permalink:
        extra.append(f"<{fu.permalink}|the message it came from>")
    blocks.append(context_block(" · ".join(extra)))
    return blocks


def card_blocks(actor: Actor, ref: str, currency: str) -> tuple[list[Block], str]:
    """The card of the record behind ``ref`` and its one-line text."""
    found = parse_ref(ref, "ref", RECORD_KINDS)
    if found.kind == "followup":
        fu = followups.get_follow_up(actor, found.id)
        return follow_up_blocks(actor, fu), f"{ref_label('followup', fu.id)} {fu.title}"
    card = cards.record_card(actor, found.kind, found.id)
    return _CARDS[found.kind](card, currency), f"{card.ref} {card.record.name}"


def card_modal(ref: str, blocks: list[Block]) -> dict[str, Any]:
    kind = parse_ref(ref, "ref", RECORD_KINDS).kind
    title = f"{_TITLES.get(kind, 'Follow-up')} {ref}"
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks[:100],
        "private_metadata": json.dumps({"card": ref}),
    }


# --- where the button sits ---------------------------------------------------------------------


def _container(body: dict[str, Any]) -> str:
    return str((body.get("container") or {}).get("type") or "message")


def in_view(body: dict[str, Any]) -> bool:
    """The click came from App Home or a modal (no response_url to answer through)."""
    return _container(body) == "view" or (
        isinstance(body.get("view"), dict) and not body.get("response_url")
    )


def _card_ref_of_view(body: dict[str, Any]) -> str | None:
    view = body.get("view") or {}
    if view.get("type") != "modal":
        return None
    try:
        ref = json.loads(view.get("private_metadata") or "{}").get("card")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) else None


def _refresh_card_modal(
    client: WebClient, actor: Actor, body: dict[str, Any], currency: str
) -> None:
    ref = _card_ref_of_view(body)
    if ref is not None:
        blocks, _ = card_blocks(actor, ref, currency)
        client.views_update(view_id=body["view"]["id"], view=card_modal(ref, blocks))


# --- the listeners ---------------------------------------------------------------------------


def open_record(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    ref = str(body["actions"][0].get("value") or "").upper()
    client: WebClient = context.client

    def work() -> None:
        blocks, text = card_blocks(actor, ref, currency)
        if not in_view(body):
            respond(**ephemeral(blocks, text), replace_original=False)
        elif (body.get("view") or {}).get("type") == "modal":
            client.views_push(trigger_id=body["trigger_id"], view=card_modal(ref, blocks))
        else:
            client.views_open(trigger_id=body["trigger_id"], view=card_modal(ref, blocks))

    answer_click(body, context, respond, work)


def _stage_value(value: str) -> tuple[int, str]:
    hint = '{"ref": "O7", "stage": "proposal"}'
    try:
        data = json.loads(value)
        ref, stage = data["ref"], data["stage"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            "stage", "this button no longer says where to move", hint=hint
        ) from None
    if not isinstance(stage, str):
        raise ValidationError("stage", "this button no longer says where to move", hint=hint)
    return parse_ref(str(ref), "ref", ("opportunity",)).id, stage


def move_stage(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    user_id = context.user_id or ""
    client: WebClient = context.client

    def work() -> None:
        opp_id, stage = _stage_value(str(body["actions"][0].get("value") or ""))
        opp = opportunities.move_stage(actor, opp_id, stage)
        label = ref_label("opportunity", opp.id)
        title = f"{opp.name} → {STAGE_LABELS.get(opp.stage, opp.stage)}"
        if opp.change_id:
            top = receipt(label, title, opp.change_id, verb="Moved")
        else:
            top = [
                context_block(f"*{label}* is already in {STAGE_LABELS.get(opp.stage, opp.stage)}.")
            ]
        card = opportunity_card(cards.opportunity_card(actor, opp.id), currency)
        if not in_view(body):
            respond(**ephemeral([*top, *card], f"{label} {title}"), replace_original=True)
        else:
            if opp.change_id:
                deliver(client, user_id, None, top, f"Moved {label} {title}")
            _refresh_card_modal(client, actor, body, currency)
        if opp.change_id:
            home_refresh.refresh(client, actor, user_id)

    answer_click(body, context, respond, work)


def _follow_up_id(text: str) -> int:
    return parse_record_id(text, "followup")


def done_in_view(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    actor: Actor = context["actor"]
    user_id = context.user_id or ""
    client: WebClient = context.client

    def work() -> None:
        fu = followups.complete_follow_up(
            actor, _follow_up_id(str(body["actions"][0].get("value") or ""))
        )
        label = ref_label("followup", fu.id)
        blocks = receipt(label, fu.title, fu.change_id, verb="Done:")
        deliver(client, user_id, None, blocks, f"{label} done")
        _refresh_card_modal(client, actor, body, context["company"].currency)
        home_refresh.refresh(client, actor, user_id)

    answer_click(body, context, None, work)


def snooze_in_view(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    actor: Actor = context["actor"]
    user_id = context.user_id or ""
    client: WebClient = context.client

    def work() -> None:
        fid, _, choice = str(body["actions"][0].get("value") or "").partition(":")
        until = reminders.snooze_until(choice, utcnow(), actor.tz)
        fu = followups.snooze_follow_up(actor, _follow_up_id(fid), until)
        label = ref_label("followup", fu.id)
        blocks = receipt(label, fu.title, fu.change_id, verb="Snoozed")
        blocks.insert(
            1, context_block(f"No reminders until {when(until)}; it stays due when it was.")
        )
        deliver(client, user_id, None, blocks, f"{label} snoozed")
        home_refresh.refresh(client, actor, user_id)

    answer_click(body, context, None, work)


def register(app: App) -> None:
    app.action(OPEN_RECORD)(open_record)
    app.action(OPP_STAGE)(move_stage)
    app.action(DONE, matchers=[in_view])(done_in_view)
    app.action(SNOOZE_ACTION, matchers=[in_view])(snooze_in_view)
