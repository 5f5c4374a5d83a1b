"""A campaign's card as a message the workers keep up to date (SPEC 6: "the card updates
itself while sending").

A command's or button's answer goes through ``response_url`` and is ephemeral: Slack lets
nobody edit it later. So when a campaign starts sending from Slack, its card is also posted as
a real message in the member's DM with the app, and that message is remembered
(:func:`crm.campaigns.cards.attach`); the workers ``chat.update`` it as batches go out and
post the finish report to the campaign's creator (:mod:`workers.campaign_cards`).
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.campaigns import campaign_card
from bot.blocks.common import Block, fallback
from crm import permissions
from crm.acting import Actor
from crm.campaigns import cards, service
from crm.models import Campaign
from crm.tenancy import ref_label

log = logging.getLogger(__name__)


def card(actor: Actor, campaign: Campaign, currency: str) -> tuple[list[Block], str]:
    """The card's blocks for this member (controls only for who may run campaigns) and its
    notification text."""
    return render(campaign, currency, can_run=permissions.has(actor, "manage_campaigns"))


def render(campaign: Campaign, currency: str, *, can_run: bool) -> tuple[list[Block], str]:
    """The card and its notification text, as posted and as the workers redraw it (the live
    card is posted by someone who may run campaigns, so it keeps its controls)."""
    figures = service.figures(campaign)
    blocks = campaign_card(campaign, figures, currency, can_run=can_run)
    text = f"{ref_label('campaign', campaign.id)} {campaign.name}: {figures.status}"
    return blocks, fallback(text)


def post_live(
    client: WebClient, actor: Actor, user_id: str, campaign: Campaign, currency: str
) -> None:
    """Post the card in the member's DM with the app and keep it up to date from now on. A
    refusal from Slack is one log line: the campaign is sending either way."""
    blocks, text = card(actor, campaign, currency)
    try:
        posted = client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
        cards.attach(actor, campaign.id, str(posted["channel"]), str(posted["ts"]))
    except SlackApiError as e:
        log.info("campaign M%s: live card not posted (%s)", campaign.id, e.response.get("error"))
