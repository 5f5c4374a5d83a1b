"""Campaign dispatch on the workers (SPEC 6): the scan the scheduler enqueues, and the
dispatch actor that sends (:mod:`crm.campaigns.dispatch` does the sending itself).

- ``scan_campaigns`` (every ``CRM_CAMPAIGN_SCAN_INTERVAL`` s): starts the scheduled campaigns
  that are due (a conditional UPDATE each: two schedulers start and enqueue a campaign once),
  then enqueues ``CRM_CAMPAIGN_PARALLEL`` dispatch messages for each ``sending`` campaign
  never dispatched yet or left alone for a lease (a lost message, a killed worker).
- ``dispatch_campaign``: runs batches for up to 30 s, then enqueues itself again, so a long
  campaign never holds a worker thread and Pause, Cancel and the kill switch are read between
  batches. A connection failure or a provider asking to slow down re-enqueues it with the
  backoff as the message's delay (the wait sits in Redis, not in a thread). A message
  delivered twice runs twice harmlessly: the two runs claim different recipients. A run that
  finds the rest claimed by another worker ends; if that worker died, its leases expire and
  the scan re-enqueues the campaign (nobody recorded progress for a lease).
- Rates: email and SMS per company at ``CRM_CAMPAIGN_EMAIL_RATE`` / ``CRM_CAMPAIGN_SMS_RATE``
  messages per second through a Dramatiq ``WindowRateLimiter`` in Redis (shared by every
  worker process; in-process in embedded mode); a social post to a Slack channel keeps
  Slack's one per second per channel (:func:`workers.slack.post_limited`).

:data:`PROGRESS_HOOKS` are called after every batch and every run with ``(campaign_id,
finished)``: :mod:`workers.campaign_cards` updates the live card there (``chat.update`` at
most every 5 s) and sends the finish report.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import dramatiq
from dramatiq.rate_limits import WindowRateLimiter

from crm.campaigns import dispatch, service
from crm.config import Settings
from crm.models import Campaign
from workers import campaign_cards, composition
from workers.broker import namespace

__all__ = ["PROGRESS_HOOKS", "Throttle", "dispatch_campaign", "scan_campaigns"]

log = logging.getLogger("crm.workers")

RUN_SECONDS = 30.0
PROGRESS_HOOKS: list[Callable[[int, bool], None]] = [campaign_cards.on_progress]


class Throttle:
    """At most ``rate`` messages per second for one company and channel, across processes.

    Each acquisition from Dramatiq's window limiter grants a block of messages (about a
    twentieth of the rate), so a fast campaign costs a few Redis round trips per second
    rather than one per message, and a slow one is still paced message by message.
    """

    def __init__(self, settings: Settings, company_id: int, channel: str) -> None:
        rate = (
            settings.campaign_email_rate
            if channel in ("email", "event")
            else (settings.campaign_sms_rate)
        )
        self.rate = rate
        self.block = max(1, math.ceil(rate / 20)) if rate else 0
        self.left = 0
        self.limiter = (
            WindowRateLimiter(
                composition.current().limiter_backend,
                f"{namespace(settings)}:campaigns:rate:{company_id}:{channel}",
                limit=max(1, math.floor(rate / self.block)),
                window=1,
            )
            if rate
            else None
        )

    def __call__(self) -> None:
        if self.limiter is None:
            return
        if self.left > 0:
            self.left -= 1
            return
        while True:
            with self.limiter.acquire(raise_on_failure=False) as acquired:
                if acquired:
                    self.left = self.block - 1
                    return
            time.sleep(0.02)


def _post_to_slack(campaign: Campaign, text: str) -> str:
    """A social post to a Slack channel, within Slack's 1/s per channel."""
    from slack_sdk.errors import SlackApiError

    from crm.campaigns.gateways import Rejected, Temporary
    from workers import slack

    client = slack.client_for(slack.company(campaign.company_id))
    channel = service.social_target(campaign) or ""
    try:
        response = slack.post_limited(client, channel, text=text, unfurl_links=False)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        if error in slack.TRANSIENT_ERRORS:
            raise Temporary(f"Slack: {error}") from None
        raise Rejected(f"Slack: {error}") from None
    return f"{channel}/{response.get('ts', '')}"[:255]


@dramatiq.actor(queue_name="campaigns", max_retries=20, min_backoff=1000, time_limit=5 * 60_000)
def dispatch_campaign(campaign_id: int) -> None:
    settings = composition.current().settings
    campaign = (
        Campaign.unscoped(why="the message names the campaign by its id")
        .where(Campaign.id == campaign_id)
        .first()
    )
    if campaign is None or campaign.status != "sending":
        return
    outcome = dispatch.run(
        campaign_id,
        settings,
        throttle=Throttle(settings, campaign.company_id, campaign.channel),
        budget_seconds=RUN_SECONDS,
        post_to_channel=_post_to_slack,
        on_batch=lambda: _progress(campaign_id, False),
    )
    if outcome.state == "more":
        dispatch_campaign.send(campaign_id)
    elif outcome.state == "retry":
        delay = max(int(outcome.retry_in * 1000), 100)
        dispatch_campaign.send_with_options(args=(campaign_id,), delay=delay)
    if outcome.reason:
        log.info("campaign M%s: %s (%s)", campaign_id, outcome.state, outcome.reason)
    _progress(campaign_id, outcome.finished)


def _progress(campaign_id: int, finished: bool) -> None:
    """Tell the hooks (after each batch, and once more when the run ends): a hook's failure
    is logged and never stops the sending."""
    for hook in PROGRESS_HOOKS:
        try:
            hook(campaign_id, finished)
        except Exception:
            log.exception("campaign M%s: progress hook failed", campaign_id)


@dramatiq.actor(queue_name="campaigns", max_retries=0, time_limit=60_000)
def scan_campaigns() -> None:
    service.start_due()
    for campaign_id in dispatch.stalled(composition.current().settings.campaign_lease):
        enqueue(campaign_id)


def enqueue(campaign_id: int) -> None:
    """Start ``CRM_CAMPAIGN_PARALLEL`` dispatch chains for a campaign (each run claims its own
    batches, so they share the work and never a recipient); also the campaign notifier of
    the runtime where workers are at hand (:func:`workers.composition.compose_embedded`)."""
    for _ in range(composition.current().settings.campaign_parallel):
        dispatch_campaign.send(campaign_id)
