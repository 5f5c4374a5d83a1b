"""The one way out to Slack's Web API, for the web process and the workers alike.

Every client honours ``SLACK_API_URL`` (tests point it at a local stand-in) and carries
slack-sdk's own retry handlers: a ``429`` is retried after ``Retry-After`` and a dropped
connection is retried, so callers never hand-roll either. Workers that must not block on a
long ``Retry-After`` pass ``max_rate_limit_wait`` and turn the remaining 429 into a delayed
Dramatiq retry instead.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from crm.config import Settings
from crm.models import Company, SlackInstallation


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 in-process only when Slack asks for a short wait.

    A long ``Retry-After`` is better spent as a delayed queue retry than as a blocked thread.
    """

    def __init__(self, max_retry_count: int = 3, max_wait: float = 5.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        retry_after = _retry_after(response)
        return retry_after is None or retry_after <= self.max_wait


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds of a ``Retry-After`` header (any case, a value or a list of values, as the
    HTTP clients give them); ``None`` when absent or not a number. The one reading of it: the
    in-process retry above and the workers' delayed retries (:func:`workers.slack.as_retry`)."""
    for name, values in (headers or {}).items():
        if name.lower() == "retry-after" and values:
            value = values[0] if isinstance(values, list) else values
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if math.isfinite(seconds) else None
    return None


def _retry_after(response: HttpResponse | None) -> float | None:
    return None if response is None else retry_after(response.headers)


# What serves a member (a request thread, a command's answer) waits at most this long on a
# 429 before giving up: the member is waiting, and Slack's 3 s budget runs for requests.
WEB_MAX_RATE_LIMIT_WAIT = 2.0


def retry_handlers(max_rate_limit_wait: float = 30.0) -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        BoundedRateLimitRetryHandler(max_retry_count=3, max_wait=max_rate_limit_wait),
    ]


_lock = threading.Lock()


@lru_cache(maxsize=256)
def _cached_client(token: str, base_url: str, max_wait: float) -> WebClient:
    return WebClient(token=token, base_url=base_url, retry_handlers=retry_handlers(max_wait))


def client(settings: Settings, token: str, *, max_rate_limit_wait: float = 30.0) -> WebClient:
    """One reusable client per token (WebClient is thread-safe; it keeps no per-call state)."""
    with _lock:
        return _cached_client(token, settings.slack_api_url, max_rate_limit_wait)


def bot_token(settings: Settings, company: Company | str) -> str | None:
    """The bot token for a workspace: the single-workspace token, or its latest installation."""
    if settings.slack_bot_token:
        return settings.slack_bot_token
    team_id = company if isinstance(company, str) else company.team_id
    installation = (
        SlackInstallation.select()
        .where((SlackInstallation.team_id == team_id) & SlackInstallation.bot_token.is_null(False))
        .order_by(SlackInstallation.installed_at.desc())
        .first()
    )
    return installation.bot_token if installation else None


def client_for(
    settings: Settings, company: Company | str, *, max_rate_limit_wait: float = 30.0
) -> WebClient:
    token = bot_token(settings, company)
    if not token:
        team = company if isinstance(company, str) else company.team_id
        raise LookupError(
            f"no bot token for workspace {team}: install the app or set SLACK_BOT_TOKEN"
        )
    return client(settings, token, max_rate_limit_wait=max_rate_limit_wait)
