"""Each signed request is acted on once (SPEC 10): a retry or a replay repeats no effect.

Slack retries an event it thinks was lost (``X-Slack-Retry-Num``), and anyone who captured a
signed request can send it again, byte for byte, for as long as its timestamp is accepted
(five minutes). The web process's edge (:mod:`bot.request_guard`) gives each request a
*replay key* (the event id of an event, a digest of the body otherwise) and asks
:func:`claim` before anything acts on it; a request whose key is taken is acknowledged and
dropped.

Why a row in the database, not a set in memory or in Redis: several web processes on several
machines answer Slack, and the database is the one thing they all share and trust (Redis may
be down while the web keeps answering, SPEC 11). The claim is one ``INSERT`` that ignores a
conflict, committed on its own (the effects come later, in other transactions and processes):
the unique index decides between two copies arriving at once, in one round trip.

A request whose handling failed in a way Slack should retry (a 5xx answer) gives its key back
with :func:`release`. Keys are kept for :data:`KEEP` (longer than Slack's retry schedule and
the signature window) and pruned by the claims themselves, at most once a minute per process.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from crm.clock import utcnow
from crm.db import database
from crm.models import ReceivedRequest
from crm.sql_cache import Statement

KEEP = timedelta(hours=1)
PRUNE_EVERY = 60.0  # seconds between prunes in one process

_CLAIM = Statement(
    lambda key, now: ReceivedRequest.insert(
        key=key, created_at=now, updated_at=now
    ).on_conflict_ignore()
)
_RELEASE = Statement(lambda key: ReceivedRequest.delete().where(ReceivedRequest.key == key))
_PRUNE = Statement(
    lambda before: ReceivedRequest.delete().where(ReceivedRequest.created_at < before)
)

_prune_lock = threading.Lock()
_last_prune = 0.0


def claim(key: str) -> bool:
    """``True`` when this is the first time ``key`` is seen (the caller acts on the request);
    ``False`` for a retry or a replay (the caller acknowledges and does nothing)."""
    now = utcnow()
    with database.atomic():
        first = bool(_CLAIM.rowcount(key=key, now=now))
    _maybe_prune(now)
    return first


def release(key: str) -> None:
    """Forget ``key``: its request failed before it took effect, so Slack's retry may run."""
    with database.atomic():
        _RELEASE.execute(key=key)


def prune(now: datetime | None = None) -> int:
    """Delete keys older than :data:`KEEP`; returns how many went."""
    before = (now or utcnow()) - KEEP
    with database.atomic():
        return _PRUNE.rowcount(before=before)


def _maybe_prune(now: datetime) -> None:
    global _last_prune
    tick = time.monotonic()
    if tick - _last_prune < PRUNE_EVERY or not _prune_lock.acquire(blocking=False):
        return
    try:
        _last_prune = tick
        prune(now)
    finally:
        _prune_lock.release()
