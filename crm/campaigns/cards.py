"""Where a campaign's Slack card lives, and who may refresh it or send the finish report.

The card a manager started a campaign from is a real message (channel and ts stored on the
campaign), so the workers can ``chat.update`` it while sending. Two claims keep that cheap
and single:

- a refresh is claimed by one conditional UPDATE of ``card_updated_at`` older than
  :data:`CARD_EVERY` (Slack's ``chat.update`` is rate limited, and a campaign's many worker
  runs would otherwise each update it): at most one refresh per interval, whichever run gets
  there first; the last one (the campaign finished) is always taken;
- the finish report is claimed once by setting ``reported_at``, so a run delivered twice, or
  two runs finishing together, report once.

Both are keyed by the campaign id the worker message names, hence ``unscoped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm.acting import Actor
from crm.campaigns.service import get_campaign
from crm.clock import utcnow
from crm.errors import ValidationError
from crm.models import Campaign, Member

CARD_EVERY = timedelta(seconds=5)  # SPEC 6: the card updates itself at most every 5 s


@dataclass(frozen=True)
class Card:
    campaign: Campaign
    channel: str
    ts: str


def attach(actor: Actor, campaign_id: int, channel: str, ts: str) -> None:
    """Remember the message that shows the campaign's card (the newest one wins)."""
    if not channel or not ts or len(channel) > 32 or len(ts) > 32:
        raise ValidationError("card", "Slack gave no message to keep up to date")
    campaign = get_campaign(actor, campaign_id)
    Campaign.scoped_update(actor, card_channel=channel, card_ts=ts, card_updated_at=utcnow()).where(
        Campaign.id == campaign.id
    ).execute()


def _claim(campaign_id: int, condition: Any, **update: Any) -> Campaign | None:
    """The campaign, if one conditional UPDATE of it won; ``None`` if another run got there."""
    won = (
        Campaign.unscoped_update(why="the worker message names the campaign by its id", **update)
        .where((Campaign.id == campaign_id) & condition)
        .execute()
    )
    if not won:
        return None
    return (
        Campaign.unscoped(why="the worker message names the campaign by its id")
        .where(Campaign.id == campaign_id)
        .get()
    )


def claim_refresh(campaign_id: int, *, final: bool, now: datetime | None = None) -> Card | None:
    """The card to update now, or ``None`` (no card, or refreshed less than 5 s ago)."""
    now = now or utcnow()
    due = Campaign.card_ts.is_null(False)
    if not final:
        due &= Campaign.card_updated_at.is_null() | (Campaign.card_updated_at <= now - CARD_EVERY)
    campaign = _claim(campaign_id, due, card_updated_at=now)
    return None if campaign is None else Card(campaign, campaign.card_channel, campaign.card_ts)


def claim_report(campaign_id: int, now: datetime | None = None) -> tuple[Campaign, str] | None:
    """The finished campaign and its creator's Slack user id, once; ``None`` for a campaign
    not finished, already reported, or whose creator is gone."""
    finished = (Campaign.status == "sent") & Campaign.reported_at.is_null()
    campaign = _claim(campaign_id, finished, reported_at=now or utcnow())
    if campaign is None:
        return None
    creator = (
        Member.scoped(campaign).where(Member.id == campaign.created_by_id).first()
        if campaign.created_by_id
        else None
    )
    return (campaign, creator.slack_user_id) if creator is not None else None
