"""The scheduler process (SPEC 1): APScheduler jobs that only *enqueue* Dramatiq messages.

Jobs are periodic scans (reminders, new orders and closed leads every minute, digests every
five minutes) plus the nightly metrics recompute and insight fits (SPEC 13). A scan never
carries state: it asks the database what is due, so a firing that is skipped, lost with Redis,
or repeated costs a delay or a no-op, never a lost or doubled effect. Hence ``coalesce=True`` (a backlog of missed firings runs once),
``max_instances=1`` and a ``misfire_grace_time`` of one interval.

Only one scheduler may fire at a time, so running two by mistake sends nothing twice. The
leader holds a Redis lease, redis-py's :class:`~redis.lock.Lock` (``SET key token NX PX ttl``
to take it, its ``reacquire`` to reset the ttl only while the key still holds our token),
renewed every ``ttl / 4``. A second scheduler tries to take it on every tick, stays idle while
it fails, and takes over within one ``ttl`` plus a tick after the leader dies. A leader trusts its lease for 80% of the ttl after the last
successful renewal only, so a leader cut off from Redis stops firing before the key expires
and the standby starts. Without Redis (embedded mode) the one process is always the leader.

Settings (seconds): ``CRM_SCHEDULER_LOCK_TTL`` (15), ``CRM_SCAN_INTERVAL`` (60),
``CRM_DIGEST_SCAN_INTERVAL`` (300), ``CRM_METRICS_SCAN_INTERVAL`` (60); ``CRM_NIGHTLY_AT``
(``02:30`` UTC).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import dramatiq
import redis
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis.exceptions import LockError

from crm.config import Settings

__all__ = [
    "JobSpec",
    "Lease",
    "LocalLease",
    "RedisLease",
    "Scheduler",
    "job_specs",
    "lease_for",
]

log = logging.getLogger("crm.scheduler")

TRUST = 0.8  # share of the ttl a leader trusts its lease after the last renewal


class Lease(Protocol):
    def tick(self) -> None: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...


class LocalLease:
    """Embedded mode: one process, always the leader."""

    token = "local"

    def tick(self) -> None:
        pass

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class RedisLease:
    """The leader's lease: a redis-py :class:`~redis.lock.Lock` that never blocks, with the
    one thing the library leaves to us: how long to *trust* it. Redis expires the key after
    the ttl; the holder trusts it for :data:`TRUST` of the ttl after its last successful
    renewal, so a leader cut off from Redis stops before a standby can start."""

    def __init__(self, client: redis.Redis, key: str, ttl: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(int(ttl * 1000), 100)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._valid_until = 0.0
        # the token is shared by the ticker thread and shutdown: not thread-local
        self._lock = client.lock(
            key, timeout=self.ttl_ms / 1000, blocking=False, thread_local=False
        )

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def _renewed(self) -> bool:
        try:
            return bool(self._lock.reacquire())
        except LockError:  # never ours, or no longer ours (expired, taken by another)
            return False

    def tick(self) -> None:
        """Renew the lease if ours, else try to take it; a Redis error changes nothing (an
        unrenewed lease simply runs out)."""
        started = time.monotonic()
        was = self.held()
        try:
            ok = self._renewed() or bool(self._lock.acquire(blocking=False, token=self.token))
        except redis.RedisError as exc:
            if was:
                log.warning("scheduler lease not renewed (%s); firing stops when it runs out", exc)
            return
        self._valid_until = started + self.ttl_ms / 1000 * TRUST if ok else 0.0
        if ok and not was:
            log.info("scheduler %s is the leader", self.token)
        elif was and not ok:
            log.warning("scheduler %s lost the lead", self.token)

    def release(self) -> None:
        """A clean stop hands over at once instead of after the ttl."""
        self._valid_until = 0.0
        with contextlib.suppress(LockError, redis.RedisError):
            self._lock.release()


@dataclass(frozen=True)
class JobSpec:
    id: str
    actor_name: str
    trigger: BaseTrigger
    misfire_grace_time: int
    run_at_start: bool = False


def job_specs(settings: Settings) -> list[JobSpec]:
    """What the scheduler enqueues, and when."""
    scan = settings.scan_interval
    digest = settings.digest_scan_interval
    orders = settings.metrics_scan_interval
    nightly = settings.nightly_at
    camp = settings.campaign_scan_interval
    cron = CronTrigger(hour=nightly.hour, minute=nightly.minute, timezone=UTC)
    return [
        # at start too: after a restart, due reminders go out at once
        JobSpec("reminders", "scan_reminders", IntervalTrigger(seconds=scan), int(scan), True),
        JobSpec("digests", "scan_digests", IntervalTrigger(seconds=digest), int(digest), True),
        JobSpec("new-orders", "scan_new_orders", IntervalTrigger(seconds=orders), int(orders)),
        JobSpec("nightly-metrics", "recompute_all_metrics", cron, 6 * 3600),
        JobSpec("nightly-insight", "nightly_insight", cron, 6 * 3600),
        JobSpec("closed-leads", "scan_closed_leads", IntervalTrigger(seconds=orders), int(orders)),
        # at start too: a campaign due or stalled while no scheduler ran goes out at once
        JobSpec("campaigns", "scan_campaigns", IntervalTrigger(seconds=camp), int(camp), True),
    ]


def lease_for(settings: Settings, client: redis.Redis | None) -> Lease:
    if client is None:
        return LocalLease()
    from workers.broker import namespace

    ttl = settings.scheduler_lock_ttl
    return RedisLease(client, f"{namespace(settings)}:scheduler:leader", ttl)


class Scheduler:
    """APScheduler plus the lease; ``blocking=True`` for the ``crm scheduler`` process,
    ``False`` inside ``crm serve``."""

    def __init__(
        self,
        broker: dramatiq.Broker,
        lease: Lease,
        specs: list[JobSpec],
        *,
        blocking: bool = True,
        tick_every: float | None = None,
    ) -> None:
        self.broker = broker
        self.lease = lease
        ttl = getattr(lease, "ttl_ms", 4000) / 1000
        self.tick_every = tick_every or max(ttl / 4, 0.05)
        self.fired: dict[str, int] = {}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="scheduler-lease", daemon=True)
        self.aps: Any = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
        now = datetime.now(UTC)
        for spec in specs:
            extra: dict[str, Any] = {"next_run_time": now} if spec.run_at_start else {}
            self.aps.add_job(
                self._fire,
                spec.trigger,
                args=[spec],
                id=spec.id,
                name=f"enqueue {spec.actor_name}",
                misfire_grace_time=spec.misfire_grace_time,
                coalesce=True,  # a backlog of missed firings runs once
                max_instances=1,
                **extra,
            )

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_every):
            self.lease.tick()

    def _fire(self, spec: JobSpec) -> None:
        if not self.lease.held():
            return  # a standby: the leader fires
        try:
            self.broker.get_actor(spec.actor_name).send()
        except Exception as exc:  # Redis down: the next firing (a scan) catches up
            log.warning("could not enqueue %s: %s", spec.actor_name, exc)
            return
        self.fired[spec.id] = self.fired.get(spec.id, 0) + 1

    def start(self) -> None:
        """Blocks for a blocking scheduler until :meth:`shutdown`."""
        self.lease.tick()  # know whether we lead before the at-start firings
        self._ticker.start()
        self.aps.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self.aps.running:
            self.aps.shutdown(wait=False)
        self.lease.release()
