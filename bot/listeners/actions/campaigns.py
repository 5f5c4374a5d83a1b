"""The buttons of a campaign's card and preview: Preview, Send now, Schedule, Pause, Resume,
Cancel and Refresh. Each calls one :mod:`crm.campaigns.service` use case and answers with the
card as it now stands, in place of the message the button sat on (the service refuses a rep,
or a move the status does not allow, in its own words). Send now and Resume also post the
live card (:mod:`bot.campaign_card`) that the workers keep up to date."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.blocks.campaigns import (
    CANCEL_ACTION,
    PAUSE_ACTION,
    PREVIEW_ACTION,
    REFRESH_ACTION,
    RESUME_ACTION,
    SCHEDULE_ACTION,
    SEND_ACTION,
    preview_blocks,
    schedule_modal,
)
from bot.blocks.common import ephemeral, section
from bot.blocks.modals import Origin
from bot.campaign_card import card, post_live
from bot.respond import Reply, answer_click
from crm import permissions
from crm.acting import Actor
from crm.campaigns import service
from crm.models import Campaign
from crm.tenancy import ref_label


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def _card(actor: Actor, campaign: Campaign, currency: str, note: str = "") -> Reply:
    blocks, text = card(actor, campaign, currency)
    if note:
        blocks = [section(note), *blocks]
    return {**ephemeral(blocks, text), "replace_original": True}


def _control(
    use_case: Callable[[Actor, str], Campaign], note: str, *, live: bool = False
) -> Callable[..., None]:
    """A button that moves the campaign (send, pause, resume, cancel) and redraws the card."""

    def listener(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        ack()
        actor: Actor = context["actor"]
        currency = context["company"].currency
        client: WebClient = context.client
        ref = _value(body)

        def work() -> Reply:
            campaign = use_case(actor, ref)
            if live and campaign.status == "sending":
                post_live(client, actor, context.user_id or "", campaign, currency)
            return _card(actor, campaign, currency, note)

        answer_click(body, context, respond, work)

    return listener


def refresh(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    ref = _value(body)
    answer_click(
        body, context, respond, lambda: _card(actor, service.get_campaign(actor, ref), currency)
    )


def preview(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    ack()
    actor: Actor = context["actor"]
    currency = context["company"].currency
    ref = _value(body)

    def work() -> Reply:
        p = service.preview(actor, ref)
        blocks = preview_blocks(
            p,
            currency,
            can_run=permissions.has(actor, "manage_campaigns"),
            figures=service.figures(p.campaign),
        )
        text = f"Preview of {ref_label('campaign', p.campaign.id)}"
        return {**ephemeral(blocks, text), "replace_original": False}

    answer_click(body, context, respond, work)


def schedule(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    """Opens the Schedule form (the moment is typed there, in the member's zone)."""
    ack()
    actor: Actor = context["actor"]
    ref = _value(body)
    client: WebClient = context.client
    channel = (body.get("channel") or {}).get("id")

    def work() -> Reply:
        permissions.require(actor, "manage_campaigns")
        campaign = service.get_campaign(actor, ref)
        view = schedule_modal(campaign, Origin(channel=channel), actor.tz)
        client.views_open(trigger_id=body["trigger_id"], view=view)
        return None

    answer_click(body, context, respond, work)


def register(app: App) -> None:
    app.action(PREVIEW_ACTION)(preview)
    app.action(SEND_ACTION)(_control(service.send_now, ":outbox_tray: Sending.", live=True))
    app.action(SCHEDULE_ACTION)(schedule)
    app.action(PAUSE_ACTION)(_control(service.pause, "Paused."))
    app.action(RESUME_ACTION)(_control(service.resume, "Resumed.", live=True))
    app.action(CANCEL_ACTION)(_control(service.cancel, "Cancelled."))
    app.action(REFRESH_ACTION)(refresh)
