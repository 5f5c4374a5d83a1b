"""The Slack side of a campaign's progress, called by the dispatch actor after every run
(:data:`workers.campaigns.PROGRESS_HOOKS`): the live card is redrawn with ``chat.update`` at
most every 5 seconds (and once more when the campaign finishes), and the creator gets the
finish report in a DM, once (both claims in :mod:`crm.campaigns.cards`).

A Slack failure here is one log line and never fails the dispatch run: the messages already
went out and are recorded; a card a few seconds stale is the worst outcome.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.blocks.campaigns import finish_report
from bot.campaign_card import render
from crm.campaigns import cards, service
from workers import slack

log = logging.getLogger("crm.workers")


def on_progress(campaign_id: int, finished: bool) -> None:
    card = cards.claim_refresh(campaign_id, final=finished)
    if card is not None:
        _redraw(card)
    if finished:
        _report(campaign_id)


def _redraw(card: cards.Card) -> None:
    campaign = card.campaign
    company = slack.company(campaign.company_id)
    blocks, text = render(campaign, company.currency, can_run=True)
    try:
        slack.client_for(company).chat_update(
            channel=card.channel, ts=card.ts, text=text, blocks=blocks
        )
    except SlackApiError as e:
        log.info("campaign M%s: card not updated (%s)", campaign.id, e.response.get("error"))
    except Exception as e:  # Slack unreachable: the next run redraws it
        log.warning("campaign M%s: card not updated (%s: %s)", campaign.id, type(e).__name__, e)


def _report(campaign_id: int) -> None:
    claimed = cards.claim_report(campaign_id)
    if claimed is None:
        return
    campaign, user_id = claimed
    company = slack.company(campaign.company_id)
    blocks, text = finish_report(campaign, service.figures(campaign), company.currency)
    try:
        client = slack.client_for(company)
        client.chat_postMessage(
            channel=slack.dm_channel(client, company.id, user_id), text=text, blocks=blocks
        )
    except SlackApiError as e:
        log.warning("campaign M%s: finish report not sent (%s)", campaign.id, e.response)
    except Exception as e:  # Slack unreachable: the card and /crm campaign still tell
        log.warning(
            "campaign M%s: finish report not sent (%s: %s)", campaign.id, type(e).__name__, e
        )
