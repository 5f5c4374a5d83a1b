"""What the actors need around the Slack gateway: a DM channel per person, the per-channel
``chat.postMessage`` limit, and turning a long ``429 Retry-After`` into a delayed retry.

- ``chat.postMessage`` is kept to one per second per channel (Slack's limit for it) by a
  Dramatiq rate limiter in Redis, shared by every worker process; in embedded mode its
  in-process backend. Reminders go to different DM channels, so the limit paces a burst to
  one person without serialising the whole run.
- slack-sdk's retry handler (see :mod:`bot.gateway`) waits out a short ``Retry-After``
  in-process; a longer one surfaces here as :class:`dramatiq.Retry` with that delay: the
  message waits in the delay queue, not in a blocked thread, and is not lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq.rate_limits import RateLimiter, RateLimiterBackend
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import gateway
from crm.config import Settings
from crm.models import Company
from workers import composition
from workers.broker import namespace

__all__ = [
    "TRANSIENT_ERRORS",
    "SpacingRateLimiter",
    "as_retry",
    "client_for",
    "company",
    "dm_channel",
    "find_posted",
    "forget_caches",
    "max_wait",
    "post_limited",
]

log = logging.getLogger("crm.workers")

TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_dm_channels: dict[tuple[int, str], str] = {}
_dm_lock = threading.Lock()
_companies: dict[int, tuple[float, Company]] = {}
COMPANY_TTL = 300.0  # seconds a worker trusts its copy of a company row (its bot token lookup)


def max_wait(settings: Settings | None = None) -> float:
    """``CRM_SLACK_MAX_WAIT`` seconds (default 5): the longest ``Retry-After`` a worker waits
    out in place; 0 leaves every 429 to the queue."""
    return (settings or composition.current().settings).slack_max_wait


def company(company_id: int) -> Company:
    """The company row, cached per process for a few minutes: every message needs it, and it
    changes rarely (a new install, a new digest channel)."""
    hit = _companies.get(company_id)
    if hit is not None and time.monotonic() - hit[0] < COMPANY_TTL:
        return hit[1]
    row = Company.get_by_id(company_id)
    _companies[company_id] = (time.monotonic(), row)
    return row


def forget_caches() -> None:
    """Drop the per-process caches (a test switching databases, a worker told to reload)."""
    with _dm_lock:
        _dm_channels.clear()
    _companies.clear()


def client_for(company: Company) -> WebClient:
    """The company's client; a ``Retry-After`` longer than ``CRM_SLACK_MAX_WAIT`` seconds
    (default 5) is left to the queue."""
    return gateway.client_for(
        composition.current().settings,
        company,
        max_rate_limit_wait=max_wait(),
    )


def dm_channel(client: WebClient, company_id: int, slack_user_id: str) -> str:
    """``conversations.open`` once per person and process (a DM channel id never changes)."""
    key = (company_id, slack_user_id)
    with _dm_lock:
        known = _dm_channels.get(key)
    if known:
        return known
    channel = client.conversations_open(users=slack_user_id)["channel"]["id"]
    with _dm_lock:
        _dm_channels[key] = channel
    return channel


class SpacingRateLimiter(RateLimiter):
    """At most one acquisition per ``interval_ms`` per key: a key set with ``NX`` that expires
    after the interval (Dramatiq's backend ``add``).

    For Slack's "one message per second per channel" this is exact (no two posts closer than a
    second, at any phase) and one Redis round trip; Dramatiq's ``WindowRateLimiter`` with a
    one-second window counts per wall-clock second (two posts 10 ms apart across a second
    boundary both pass) and takes four round trips under ``WATCH``.
    """

    def __init__(self, backend: RateLimiterBackend, key: str, *, interval_ms: int) -> None:
        super().__init__(backend, key)
        self.interval_ms = interval_ms

    def _acquire(self) -> bool:
        return bool(self.backend.add(self.key, 1, self.interval_ms))

    def _release(self) -> None:
        pass  # the slot is spent by using it; it frees itself when the interval is over


@contextmanager
def _channel_slot(channel: str) -> Iterator[None]:
    limiter = SpacingRateLimiter(
        composition.current().limiter_backend,
        f"{namespace(composition.current().settings)}:slack:chat.postMessage:{channel}",
        interval_ms=1000,
    )
    # wait up to ~2 s in-thread for the channel's next second; a busier channel is retried
    for _ in range(8):
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                yield
                return
        time.sleep(0.25)
    raise dramatiq.Retry(f"chat.postMessage to {channel} is at 1/s", delay=1000)


def post_limited(client: WebClient, channel: str, **kwargs: Any) -> Any:
    """``chat.postMessage`` within the per-channel limit."""
    with _channel_slot(channel):
        return client.chat_postMessage(channel=channel, **kwargs)


def as_retry(exc: SlackApiError) -> dramatiq.Retry | None:
    """A Slack error worth retrying as a delayed message (429 or Slack's own trouble)."""
    response = exc.response
    status = getattr(response, "status_code", 0)
    error = (response.get("error") if response is not None else None) or ""
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", None)
        # no header: one second, like a header of 0; an unreadable one: a cautious 30 s
        present = any(k.lower() == "retry-after" for k in (headers or {}))
        seconds = gateway.retry_after(headers)
        delay = 30.0 if present and seconds is None else max(1.0, seconds or 0.0)
        return dramatiq.Retry(f"Slack said 429, Retry-After {delay:g}s", delay=int(delay * 1000))
    if status >= 500 or error in TRANSIENT_ERRORS:
        return dramatiq.Retry(f"Slack error {error or status}")
    return None


def find_posted(client: WebClient, channel: str, event_type: str, occasion: str) -> str | None:
    """The ``ts`` of a message in ``channel`` that carries our metadata for ``occasion``.

    A sender that takes over a stale claim asks this first: the sender that was killed may have
    got the message out just before it died, and then the takeover must not post it again.
    """
    try:
        history = client.conversations_history(
            channel=channel, limit=100, include_all_metadata=True
        )
    except SlackApiError as exc:
        log.warning("could not read %s to check for %s: %s", channel, occasion, exc)
        return None
    for message in history.get("messages") or []:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == event_type and payload.get("occasion") == occasion:
            return message.get("ts")
    return None
