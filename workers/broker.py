"""The Dramatiq broker, set up once per process before any actor module is imported.

- ``REDIS_URL`` set: a :class:`~dramatiq.brokers.redis.RedisBroker`; several worker processes
  on several machines share it, and the Slack rate limiters and the scheduler lock live in the
  same Redis.
- ``REDIS_URL`` unset: the embedded mode of ``crm serve``: an in-process
  :class:`~dramatiq.brokers.stub.StubBroker` consumed by worker threads of the same process,
  with in-process rate limiters. Nothing is lost even so, because the queue carries work, not
  state: the scheduler's scans re-find in the database whatever is due and not done.

Every Redis key of the product lives under ``CRM_REDIS_NAMESPACE`` (default ``crm``), so one
Redis can serve several installations, and a test run can use and flush its own namespace.

The actor modules do ``from workers.broker import broker`` first: importing this module is
what makes ``dramatiq workers.actors`` find the right broker.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

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

from crm.config import ConfigError, Settings, Unreachable, load_settings
from workers.jobs import DeadLetters
from workers.middleware import (
    CompanyContext,
    DatabasePerMessage,
    MessageLog,
    RefuseStubInCli,
)

__all__ = [
    "broker",
    "install",
    "namespace",
    "rate_limiter_backend",
    "redis_client",
    "settings",
    "setup",
]

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


settings: Settings
broker: dramatiq.Broker
_limiter_backend: RateLimiterBackend
_client: redis.Redis | None


def install(
    new_broker: dramatiq.Broker,
    limiter_backend: RateLimiterBackend,
    client: redis.Redis | None,
    new_settings: Settings,
) -> dramatiq.Broker:
    """Make ``new_broker`` the broker of this process and move every declared actor to it.

    Dramatiq binds an actor to the global broker when the actor is declared; ``crm serve``
    and the tests choose a broker after the actor modules were imported, so the actors
    follow.
    """
    global broker, settings, _limiter_backend, _client
    old = globals().get("broker")
    dramatiq.set_broker(new_broker)
    if old is not None and old is not new_broker:
        for name in list(old.actors):
            actor: Any = old.get_actor(name)
            actor.broker = new_broker
            new_broker.declare_actor(actor)
    broker, settings, _limiter_backend, _client = new_broker, new_settings, limiter_backend, client
    return new_broker


def setup(new_settings: Settings | None = None) -> dramatiq.Broker:
    """(Re)build the broker from settings (the environment by default) and install it."""
    new_settings = new_settings or load_settings()
    return install(*build(new_settings), new_settings)


def require_redis(settings: Settings) -> None:
    """A process that cannot work without Redis (``crm scheduler``, ``crm jobs``) checks it
    once at start: one line naming it and ``REDIS_URL`` when it does not answer, within the
    client's 5 s connect timeout, instead of a traceback or a silent wait."""
    if _client is None:
        return
    try:
        _client.ping()
    except redis.RedisError as exc:
        raise Unreachable("Redis", "REDIS_URL", settings.redis_url or "", exc) from None


def rate_limiter_backend() -> RateLimiterBackend:
    return _limiter_backend


def redis_client() -> redis.Redis | None:
    """The product's Redis connection, or ``None`` in embedded mode."""
    return _client


try:
    setup()
except ConfigError as exc:  # `dramatiq workers.actors` imports this: one line, not a traceback
    print(f"configuration: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
