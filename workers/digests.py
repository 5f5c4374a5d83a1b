"""Daily and weekly digests (SPEC 5.3): a scan every few minutes, one sender per occasion.

The scan asks :mod:`crm.digests` who is due (members at 09:00 local on a working day,
companies on Monday 09:00 company time) and enqueues a sender per occasion; the sender claims
the occasion in the database, posts, and marks it sent. A repeated message or scan finds the
occasion sent; a failed post releases it for the retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dramatiq
from slack_sdk.errors import SlackApiError

from bot.blocks.followups import (
    daily_digest_blocks,
    daily_digest_text,
    weekly_digest_blocks,
    weekly_digest_text,
)
from crm import digests
from crm.models import Company, Member
from workers import slack
from workers.reminders import parse_now

__all__ = ["scan_digests", "send_daily_digest", "send_weekly_digest"]

log = logging.getLogger("crm.workers")


@dramatiq.actor(queue_name="digests", max_retries=0, time_limit=5 * 60_000)
def scan_digests(now: str | None = None) -> None:
    """Periodic, so never retried."""
    at = parse_now(now)
    daily = digests.members_due_daily_digest(at)
    for o in daily:
        send_daily_digest.send(o.member_id, o.key, company_id=o.company_id, now=now)
    weekly = digests.companies_due_weekly_digest(at)
    for o in weekly:
        send_weekly_digest.send(o.key, company_id=o.company_id, now=now)


def _send_once(company_id: int, key: str, at: datetime, post: Callable[[Any], Any]) -> str | None:
    """Claim the occasion, post, mark it sent; give it back if Slack failed."""
    claimed_at = digests.claim_occasion(company_id, key, at)
    if claimed_at is None:
        return None
    try:
        client = slack.client_for(slack.company(company_id))
        response = post(client)
    except SlackApiError as exc:
        digests.release_occasion(company_id, key, claimed_at)
        retry = slack.as_retry(exc)
        if retry is not None:
            raise retry from exc
        log.warning("digest %s refused by Slack: %s", key, exc.response.get("error"))
        raise
    except BaseException:
        digests.release_occasion(company_id, key, claimed_at)
        raise
    digests.finish_occasion(company_id, key, claimed_at)
    return response["ts"]


@dramatiq.actor(
    queue_name="digests",
    max_retries=6,
    min_backoff=5_000,
    max_backoff=15 * 60_000,
    time_limit=60_000,
)
def send_daily_digest(member_id: int, key: str, company_id: int, now: str | None = None) -> None:
    at = parse_now(now)
    digest = digests.daily_digest(member_id, at)
    if digest is None:
        return  # nothing due: no digest (SPEC 5.3)
    member = Member.scoped(company_id).where(Member.id == member_id).get()

    def post(client: Any) -> Any:
        channel = slack.dm_channel(client, company_id, member.slack_user_id)
        return slack.post_limited(
            client,
            channel,
            text=daily_digest_text(digest),
            blocks=daily_digest_blocks(digest),
            unfurl_links=False,
        )

    _send_once(company_id, key, at, post)


@dramatiq.actor(
    queue_name="digests",
    max_retries=6,
    min_backoff=5_000,
    max_backoff=15 * 60_000,
    time_limit=120_000,
)
def send_weekly_digest(key: str, company_id: int, now: str | None = None) -> None:
    at = parse_now(now)
    company = Company.get_by_id(company_id)
    if not company.digest_channel:
        return
    digest = digests.weekly_digest(company_id, at)

    def post(client: Any) -> Any:
        return slack.post_limited(
            client,
            company.digest_channel,
            text=weekly_digest_text(digest),
            blocks=weekly_digest_blocks(digest),
            unfurl_links=False,
        )

    _send_once(company_id, key, at, post)
