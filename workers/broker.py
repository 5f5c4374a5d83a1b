"""The Dramatiq broker and what stands beside it, built from the settings; which one a process
uses is decided by its composition root (:mod:`workers.composition`), before any actor module
declares its actors.

- ``REDIS_URL`` set: a :class:`~dramatiq.brokers.redis.RedisBroker`; several worker processes
  on several machines share it, and the Slack rate limiters and the scheduler lock live in the
  same Redis.
- ``REDIS_URL`` unset: the embedded mode of ``crm serve``: an in-process
  :class:`~dramatiq.brokers.stub.StubBroker` consumed by worker threads of the same process,
  with in-process rate limiters. Nothing is lost even so, because the queue carries work, not
  state: the scheduler's scans re-find in the database whatever is due and not done.

Every Redis key of the product lives under ``CRM_REDIS_NAMESPACE`` (default ``crm``), so one
Redis can serve several installations, and a test run can use and flush its own namespace.

"""

from __future__ import annotations

import logging

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.rate_limits.backend import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from crm.config import Settings
from workers.jobs import DeadLetters
from workers.middleware import (
    CompanyContext,
    DatabasePerMessage,
    MessageLog,
    RefuseStubInCli,
)

__all__ = ["build", "middleware", "namespace"]

log = logging.getLogger("crm.workers")

DEFAULT_TIME_LIMIT_MS = 10 * 60 * 1000  # actors choose their own; this is the ceiling


def namespace(settings: Settings) -> str:
    return settings.redis_namespace


def _redis(settings: Settings) -> redis.Redis:
    """Short timeouts: a Redis outage must fail fast (and be retried) rather than hang a
    thread for minutes."""
    return redis.Redis.from_url(
        settings.redis_url or "",
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )


def middleware(settings: Settings, client: redis.Redis | None = None) -> list[Middleware]:
    """Dramatiq's defaults plus ours. ``before_*`` hooks run in this order, ``after_*`` hooks
    in reverse. Dead letters are kept in ``client`` (none without Redis)."""
    stack: list[Middleware] = [
        AgeLimit(),
        TimeLimit(time_limit=DEFAULT_TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        *([DeadLetters(client, namespace(settings))] if client is not None else []),
        # (the "after" hooks run in reverse order: DeadLetters runs after Retries)
        Retries(max_retries=5, min_backoff=1_000, max_backoff=15 * 60 * 1000),
        CurrentMessage(),
        RefuseStubInCli(),
        DatabasePerMessage(settings),
        CompanyContext(),
        MessageLog(),
    ]
    if settings.prometheus:
        # Dramatiq's own exporter (HTTP on dramatiq_prom_port, default 9191); it forks a
        # server process, so it only works under the dramatiq CLI.
        from dramatiq.middleware.prometheus import Prometheus

        stack.append(Prometheus())
    return stack


def build(settings: Settings) -> tuple[dramatiq.Broker, RateLimiterBackend, redis.Redis | None]:
    """A broker, the rate-limiter backend beside it, and the Redis client (or ``None``)."""
    if settings.redis_url:
        client = _redis(settings)
        new: dramatiq.Broker = RedisBroker(
            client=client,
            namespace=f"{namespace(settings)}:dramatiq",
            middleware=middleware(settings, client),
        )
        return new, RedisBackend(client=client), client
    return StubBroker(middleware=middleware(settings)), StubBackend(), None
