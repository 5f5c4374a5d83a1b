"""Who is calling the JSON API, and how often (SPEC 8).

- ``Authorization: Bearer <token>``: :func:`crm.tokens.authenticate` finds the token by its
  hash; a missing, unknown or revoked token is 401 with ``WWW-Authenticate: Bearer``.
- Rate limit per token with the ``limits`` library: a sliding-window counter (two integer
  keys per token, no per-request sorted set, so it costs one Redis round trip) in Redis when
  ``REDIS_URL`` is set, so every web process and machine shares one budget; in process
  memory otherwise (the embedded mode has one process). ``CRM_API_RATE_LIMIT`` requests a
  minute, 429 with ``Retry-After`` in whole seconds. Redis being down does not stop the API
  (SPEC 11): the request goes through unlimited and one warning line is logged.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

from bot import composition
from bot.api.errors import ApiError
from crm import tokens
from crm.acting import Actor
from crm.models import Company

log = logging.getLogger("bot.api")


def authenticate(header: str | None) -> Actor:
    scheme, _, credential = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send Authorization: Bearer <token> (make one with `crm token create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    actor = tokens.authenticate(credential)
    if actor is None:
        raise ApiError(
            401,
            "unauthorized",
            "this token is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return dataclasses.replace(actor, tz=company_info(actor.company_id)[1])


_COMPANIES: dict[int, tuple[float, str, str]] = {}


def company_info(company_id: int) -> tuple[str, str]:
    """The company's (currency, time zone), cached a minute per process: they change about
    never, every record of every answer carries the currency, and times written without an
    offset ("2026-02-12 14:30:00", as the original system sends them) are read in the
    company's zone."""
    now = time.monotonic()
    hit = _COMPANIES.get(company_id)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    row = (
        Company.select(Company.currency, Company.timezone)
        .where(Company.id == company_id)
        .tuples()
        .first()
    )
    code, tz = row if row else ("ZMW", "UTC")
    _COMPANIES[company_id] = (now + 60.0, code, tz)
    return code, tz


def limit(actor: Actor) -> None:
    """Count one request of the actor's token; :class:`ApiError` 429 once over the limit.
    The limiter is the process's (:func:`bot.composition.api_limiter`)."""
    limiter = composition.current().api_limiter
    item = limiter.item
    ident = str(actor.token_id)
    try:
        if limiter.strategy.hit(item, ident):
            return
        stats = limiter.strategy.get_window_stats(item, ident)
    except Exception as exc:  # Redis down: answer anyway (SPEC 11), say so once per request
        log.warning("api rate limit skipped: %s", type(exc).__name__)
        return
    retry = max(1, math.ceil(stats.reset_time - time.time()))
    raise ApiError(
        429,
        "rate_limited",
        f"more than {item.amount} requests a minute with this token; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )
