"""The workers' composition root: what a worker process, the scheduler, ``crm jobs`` and ``crm
serve`` are given at start (settings, broker, Redis client, rate-limiter backend, the domain's
runtime), decided here once.

The actor modules read :func:`current` when a message runs (the settings, the limiter
backend); they never build or install anything. Dramatiq binds an actor to the global broker
when the actor is declared, so a broker must exist before the first actor module is imported:
importing this module installs one built from the environment (what ``dramatiq
workers.actors`` runs with), and :func:`install` moves every declared actor to a broker chosen
later (``crm serve``, the tests). The domain's runtime of such a process is read from the same
environment on first use (:func:`crm.runtime.current`); the entry points install it with
:func:`compose_workers`.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import dramatiq
import redis
from dramatiq.rate_limits.backend import RateLimiterBackend

from crm import runtime
from crm.config import ConfigError, Settings, Unreachable, load_settings
from workers import broker as brokers

if TYPE_CHECKING:
    from flask import Flask


@dataclass(frozen=True)
class Workers:
    """A process's broker and what stands beside it. ``redis`` is ``None`` in embedded mode
    (no ``REDIS_URL``): an in-process queue and in-process rate limiters."""

    settings: Settings
    broker: dramatiq.Broker
    limiter_backend: RateLimiterBackend
    redis: redis.Redis | None

    def require_redis(self) -> None:
        """A process that cannot work without Redis (``crm scheduler``, ``crm jobs``) checks it
        once at start: one line naming it and ``REDIS_URL`` when it does not answer, within
        the client's 5 s connect timeout, instead of a traceback or a silent wait."""
        if self.redis is None:
            return
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise Unreachable("Redis", "REDIS_URL", self.settings.redis_url or "", exc) from None


def build(settings: Settings) -> Workers:
    return Workers(settings, *brokers.build(settings))


_lock = threading.Lock()
_current: Workers | None = None


def install(workers: Workers) -> Workers | None:
    """Make ``workers`` this process's and move every declared actor to its broker; returns
    the one it replaces."""
    global _current
    with _lock:
        previous, _current = _current, workers
        dramatiq.set_broker(workers.broker)
        if previous is not None and previous.broker is not workers.broker:
            for name in list(previous.broker.actors):
                actor: Any = previous.broker.get_actor(name)
                actor.broker = workers.broker
                workers.broker.declare_actor(actor)
    return previous


def current() -> Workers:
    workers = _current
    assert workers is not None  # installed when this module is imported
    return workers


def compose_workers(settings: Settings) -> Workers:
    """An entry point's wiring (``crm scheduler``, ``crm jobs``): the domain's runtime and the
    workers for ``settings``; Redis, when configured, must answer."""
    runtime.install(runtime.Runtime.for_settings(settings))
    workers = build(settings)
    install(workers)
    workers.require_redis()
    return workers


def compose_embedded(
    settings: Settings, *, notify_campaign: runtime.Notifier
) -> tuple[Workers, Flask]:
    """``crm serve``: the workers, then the web app (it checks the bot token with Slack, and
    a Slack that does not answer stops start-up before a worker claims a reminder), then the
    campaign notifier, so Send now reaches the worker threads at once. ``notify_campaign``
    is :func:`workers.campaigns.enqueue`, passed in: that actor module reads this one."""
    from bot.web import create_app

    workers = compose_workers(settings)
    web_app = create_app(settings)  # composes the web side (bot/composition.py)
    runtime.install(replace(runtime.current(), notify_campaign=notify_campaign))
    return workers, web_app


try:
    install(build(load_settings()))
except ConfigError as exc:  # `dramatiq workers.actors` imports this: one line, not a traceback
    print(f"configuration: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
