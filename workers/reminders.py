"""Overdue reminder DMs (SPEC 5.3): the scan and the sender.

``scan_reminders`` runs every minute (the scheduler enqueues it): it applies rule 5 (pending
follow-ups past due become overdue) and enqueues one ``send_reminder`` per follow-up that
:func:`crm.reminders.due_reminders` finds. ``send_reminder`` claims the reminder in the
database, opens the DM, posts it (within the per-channel limit) and records it; if Slack
fails it gives the claim back and lets Dramatiq retry. The claim, not the queue, makes each
reminder go out once: a repeated message finds the claim taken or the reminder recorded.

``now`` is an optional ISO timestamp in the payload: production messages carry none (the
worker's clock decides); tests pin it instead of sleeping.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from slack_sdk.errors import SlackApiError

from bot.blocks.followups import reminder_blocks, reminder_text
from crm import reminders
from crm.clock import to_utc, utcnow
from crm.followups import mark_overdue
from crm.tenancy import ref_label
from workers import broker as brokers
from workers import slack

__all__ = ["REMINDER_EVENT", "claim_timeout", "scan_reminders", "send_reminder"]

log = logging.getLogger("crm.workers")

REMINDER_EVENT = "crm_followup_reminder"


def parse_now(now: str | None) -> datetime:
    return to_utc(datetime.fromisoformat(now)) if now else utcnow()


def claim_timeout() -> timedelta:
    """``CRM_REMINDER_CLAIM_TIMEOUT`` seconds (default 300): how long a claim shields a
    reminder from other senders before it counts as abandoned."""
    raw = brokers.settings.extra.get("CRM_REMINDER_CLAIM_TIMEOUT")
    try:
        return timedelta(seconds=float(raw)) if raw else reminders.CLAIM_TIMEOUT
    except ValueError:
        return reminders.CLAIM_TIMEOUT


@dramatiq.actor(queue_name="reminders", max_retries=0, time_limit=5 * 60_000)
def scan_reminders(now: str | None = None) -> None:
    """Periodic, so never retried: the next scan is the retry."""
    at = parse_now(now)
    mark_overdue(at)
    due = reminders.due_reminders(at, claim_timeout=claim_timeout())
    for item in due:
        send_reminder.send(item.follow_up_id, company_id=item.company_id, now=now)
    if due:
        log.info("reminder scan at %s: %d due", at, len(due))


def _subject_label(claim: reminders.Claim) -> str:
    fu = claim.follow_up
    label = ref_label(fu.followable_type, fu.followable_id)
    return f"{label} {claim.subject_name}" if claim.subject_name else label


@dramatiq.actor(
    queue_name="reminders",
    max_retries=12,
    min_backoff=2_000,
    max_backoff=10 * 60_000,
    time_limit=60_000,
)
def send_reminder(follow_up_id: int, company_id: int | None = None, now: str | None = None) -> None:
    """One reminder DM, at most once per occasion."""
    at = parse_now(now)
    claim = reminders.claim_reminder(follow_up_id, at, claim_timeout=claim_timeout())
    if claim is None:
        return  # not due (done, snoozed, night, reminded today) or another sender has it
    try:
        fu = claim.follow_up
        client = slack.client_for(slack.company(claim.company_id))
        channel = slack.dm_channel(client, claim.company_id, claim.slack_user_id)
        if claim.recovered:
            ts = slack.find_posted(client, channel, REMINDER_EVENT, claim.occasion)
            if ts:
                log.info("reminder %s was sent before a restart; recording it", claim.occasion)
                reminders.record_sent(claim, channel, ts)
                return
        response = slack.post_limited(
            client,
            channel,
            text=reminder_text(fu.id, fu.title),
            blocks=reminder_blocks(
                follow_up_id=fu.id,
                title=fu.title,
                due_at=fu.due_at,
                subject=_subject_label(claim),
                priority=fu.priority,
                notes=fu.notes,
                permalink=fu.permalink,
                reminder_number=fu.reminder_count + 1,
            ),
            metadata={
                "event_type": REMINDER_EVENT,
                "event_payload": {"occasion": claim.occasion, "follow_up_id": fu.id},
            },
            unfurl_links=False,
        )
    except SlackApiError as exc:
        retry = slack.as_retry(exc)
        if retry is not None:
            reminders.release_claim(claim)
            raise retry from exc
        # a permanent refusal (user gone, DMs closed): try again tomorrow, not every minute
        log.warning("reminder %s refused by Slack: %s", claim.occasion, exc.response.get("error"))
        reminders.record_failed(claim)
        return
    except LookupError as exc:  # no bot token for the workspace: nothing to retry with
        reminders.record_failed(claim)
        log.warning("reminder %s not sent: %s", claim.occasion, exc)
        return
    except BaseException:
        # anything else (DB hiccup, time limit, shutdown): give the reminder back and retry
        reminders.release_claim(claim)
        raise
    # Slack has it. If recording fails now, the claim goes stale and the takeover finds the
    # message by its metadata instead of posting it again.
    reminders.record_sent(claim, response["channel"], response["ts"])
