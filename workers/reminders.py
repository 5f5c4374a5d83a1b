"""Overdue reminder DMs (SPEC 5.3): the scan and the sender.

``scan_reminders`` runs every minute (the scheduler enqueues it): it applies rule 5 (pending
follow-ups past due become overdue) and hands the follow-ups that
:func:`crm.reminders.due_reminders` finds to ``send_reminders`` in batches of
``CRM_REMINDER_BATCH`` (default 20; 1 makes it one message per follow-up). A batch shares
what it can: its reminders are claimed in two statements (:func:`crm.reminders.claim_reminders`),
its workspace's client is looked up once, and the DMs Slack took are recorded in one statement
at the end (:func:`crm.reminders.record_sent_many`): per reminder there remain only the Slack
calls and the per-channel limit's one Redis round trip. While it posts, the batch renews the
claims it has still to post every third of the claim timeout
(:func:`crm.reminders.renew_claims`): otherwise they would go stale behind a slow Slack and the
next scan would post them too. One that Slack refuses for now (429, a
busy channel, a 5xx) or that hits a database hiccup leaves the batch as its own delayed
``send_reminder``, retried with backoff, while the rest of the batch goes on.

``deliver`` claims the reminder in the database, opens the DM, posts it (within the
per-channel limit) and records it; if Slack fails it gives the claim back and raises
:class:`dramatiq.Retry`. The claim, not the queue, makes each reminder go out once: a repeated
message finds the claim taken or the reminder recorded.

``now`` is an optional ISO timestamp in the payload: production messages carry none (the
worker's clock decides); tests pin it instead of sleeping.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

import dramatiq
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.followups import reminder_blocks, reminder_text
from crm import reminders
from crm.clock import to_utc, utcnow
from crm.config import Settings
from crm.followups import mark_overdue
from crm.tenancy import ref_label
from workers import composition, slack

__all__ = [
    "REMINDER_EVENT",
    "batch_size",
    "batches",
    "claim_timeout",
    "deliver",
    "scan_reminders",
    "send_reminder",
    "send_reminders",
]

log = logging.getLogger("crm.workers")

REMINDER_EVENT = "crm_followup_reminder"
RETRY_DELAY_MS = 2_000  # a reminder that failed inside a batch, retried on its own after this


def parse_now(now: str | None) -> datetime:
    return to_utc(datetime.fromisoformat(now)) if now else utcnow()


def claim_timeout(settings: Settings | None = None) -> timedelta:
    """``CRM_REMINDER_CLAIM_TIMEOUT`` seconds (default 300): how long a claim shields a
    reminder from other senders before it counts as abandoned."""
    return timedelta(seconds=(settings or composition.current().settings).reminder_claim_timeout)


def batch_size(settings: Settings | None = None) -> int:
    """``CRM_REMINDER_BATCH`` (default 20): reminders per ``send_reminders`` message."""
    return (settings or composition.current().settings).reminder_batch


def batches(due: Sequence[reminders.DueReminder], size: int) -> Iterator[tuple[int, list[int]]]:
    """``(company_id, follow_up_ids)`` chunks of at most ``size``, one company each.

    A member's second due reminder is put after everybody's first (and so on), so one batch
    rarely holds two DMs to the same channel: they would wait a second for each other in the
    per-channel limit while the batch's thread sits idle.
    """
    by_company: dict[int, list[reminders.DueReminder]] = defaultdict(list)
    for item in due:
        by_company[item.company_id].append(item)
    for company_id, items in by_company.items():
        seen: dict[int, int] = defaultdict(int)
        ranked = []
        for order, item in enumerate(items):
            ranked.append((seen[item.member_id], order, item.follow_up_id))
            seen[item.member_id] += 1
        ids = [fid for _, _, fid in sorted(ranked)]
        for start in range(0, len(ids), size):
            yield company_id, ids[start : start + size]


@dramatiq.actor(queue_name="reminders", max_retries=0, time_limit=5 * 60_000)
def scan_reminders(now: str | None = None) -> None:
    """Periodic, so never retried: the next scan is the retry."""
    at = parse_now(now)
    mark_overdue(at)
    due = reminders.due_reminders(at, claim_timeout=claim_timeout())
    size = batch_size()
    for company_id, ids in batches(due, size):
        if len(ids) == 1:
            send_reminder.send(ids[0], company_id=company_id, now=now)
        else:
            send_reminders.send(ids, company_id=company_id, now=now)
    if due:
        log.info("reminder scan at %s: %d due", at, len(due))


def _subject_label(claim: reminders.Claim) -> str:
    fu = claim.follow_up
    label = ref_label(fu.followable_type, fu.followable_id)
    return f"{label} {claim.subject_name}" if claim.subject_name else label


def deliver(follow_up_id: int, at: datetime) -> None:
    """One reminder DM, at most once per occasion; :class:`dramatiq.Retry` when Slack says
    "not now" (the claim is given back first)."""
    claim = reminders.claim_reminder(follow_up_id, at, claim_timeout=claim_timeout())
    if claim is None:
        return  # not due (done, snoozed, night, reminded today) or another sender has it
    posted = _post(claim)
    if posted is not None:
        reminders.record_sent(claim, *posted)


def _client(company_id: int) -> WebClient | None:
    """The workspace's client, or ``None`` without a bot token (:func:`_post` says so)."""
    try:
        return slack.client_for(slack.company(company_id))
    except LookupError:
        return None


def _post(claim: reminders.Claim, client: WebClient | None = None) -> tuple[str, str] | None:
    """Post the DM of a claimed reminder: the ``(channel, ts)`` to record it as sent, or
    ``None`` when it was settled here (refused for good: recorded as failed).

    Slack's "not now" gives the claim back and raises :class:`dramatiq.Retry`; anything else
    gives it back and re-raises. Recording is the caller's (a batch records all its DMs in
    one statement).
    """
    try:
        fu = claim.follow_up
        client = client or slack.client_for(slack.company(claim.company_id))
        channel = slack.dm_channel(client, claim.company_id, claim.slack_user_id)
        if claim.recovered:
            ts = slack.find_posted(client, channel, REMINDER_EVENT, claim.occasion)
            if ts:
                log.info("reminder %s was sent before a restart; recording it", claim.occasion)
                return channel, ts
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
        return None
    except LookupError as exc:  # no bot token for the workspace: nothing to retry with
        reminders.record_failed(claim)
        log.warning("reminder %s not sent: %s", claim.occasion, exc)
        return None
    except BaseException:
        # anything else (DB hiccup, time limit, shutdown): give the reminder back and retry
        reminders.release_claim(claim)
        raise
    # Slack has it. If recording fails now, the claim goes stale and the takeover finds the
    # message by its metadata instead of posting it again.
    return response["channel"], response["ts"]


_RETRIES = {"max_retries": 12, "min_backoff": 2_000, "max_backoff": 10 * 60_000}


@dramatiq.actor(queue_name="reminders", time_limit=60_000, **_RETRIES)
def send_reminder(follow_up_id: int, company_id: int | None = None, now: str | None = None) -> None:
    """One reminder: the scan's leftovers and the retries of a batch's failures."""
    deliver(follow_up_id, parse_now(now))


@dramatiq.actor(queue_name="reminders", time_limit=10 * 60_000, **_RETRIES)
def send_reminders(
    follow_up_ids: list[int], company_id: int | None = None, now: str | None = None
) -> None:
    """A batch of reminders of one company: claimed together, posted one by one, recorded
    together.

    A reminder that fails is sent again as its own ``send_reminder`` (delayed as Slack asked,
    retried with backoff), so one stubborn DM neither holds up nor repeats the others. The
    claims not posted yet are renewed whenever a third of the claim timeout has gone by, so a
    batch slower than the timeout (a slow Slack) keeps them from the next scan. Only an
    interruption (the time limit, a shutdown) fails the whole message: the DMs already posted
    are recorded and the claims not tried yet given back, so its retry sends just the rest.
    """
    clock = _clock(now)
    lease = claim_timeout()
    claims = reminders.claim_reminders(follow_up_ids, clock(), claim_timeout=lease)
    client = _client(claims[0].company_id) if claims else None
    sent: list[tuple[reminders.Claim, str, str]] = []
    pending = deque(claims)
    try:
        while pending:
            if clock() - pending[0].claimed_at >= lease / 3:
                pending, sent = _renewed(pending, sent, clock())
                if not pending:
                    break
            claim = pending.popleft()
            try:
                posted = _post(claim, client)
            except Exception as exc:  # each failure goes on as its own retried message
                delay = getattr(exc, "delay", None) or RETRY_DELAY_MS
                if not isinstance(exc, dramatiq.Retry):
                    log.warning(
                        "reminder for follow-up %s failed in a batch: %r", claim.follow_up_id, exc
                    )
                send_reminder.send_with_options(
                    args=(claim.follow_up_id,),
                    kwargs={"company_id": company_id, "now": now},
                    delay=delay,
                )
            else:
                if posted is not None:
                    sent.append((claim, *posted))
    except BaseException:
        # interrupted (time limit, shutdown): the claims not tried yet go back at once, for
        # the message's retry, instead of waiting out the claim timeout
        for claim in pending:
            reminders.release_claim(claim)
        raise
    finally:
        # what Slack has, recorded in one statement; if this fails, the claims go stale and
        # the takeover finds each message by its metadata instead of posting it again
        if sent:
            reminders.record_sent_many(sent)


def _clock(now: str | None) -> Callable[[], datetime]:
    """A batch's clock: the worker's, or a pinned ``now`` that runs on with the worker's
    clock from there (a test pins the start; the claims still age as the batch goes)."""
    start = utcnow()
    at = parse_now(now)
    return lambda: at + (utcnow() - start)


def _renewed(
    pending: deque[reminders.Claim], sent: list[tuple[reminders.Claim, str, str]], now: datetime
) -> tuple[deque[reminders.Claim], list[tuple[reminders.Claim, str, str]]]:
    """The batch's claims renewed at ``now``, when a third of the claim timeout has gone by:
    the ones still to post, and the ones posted but not recorded yet (recorded at the end, they
    must not go stale either: a takeover would depend on reading the DM back). A claim lost
    meanwhile (renewed too late, taken over) is left to its new owner, not posted here."""
    mine = [*pending, *(claim for claim, _, _ in sent)]
    held = {c.follow_up_id: c for c in reminders.renew_claims(mine, now)}
    lost = [c.occasion for c in mine if c.follow_up_id not in held]
    if lost:
        log.warning("reminder claims lost to another sender, left to it: %s", ", ".join(lost))
    return (
        deque(held[c.follow_up_id] for c in pending if c.follow_up_id in held),
        [(held[c.follow_up_id], ch, ts) for c, ch, ts in sent if c.follow_up_id in held],
    )
