"""The web process's composition root: what a web worker, Socket Mode or ``crm chat`` is given
at start, decided here once instead of by a ``configure()`` call per module.

:func:`compose_web` installs the domain's runtime (:mod:`crm.runtime`: settings, secret keys)
and the web layer's own collaborators (:class:`Web`: who runs a ``/crm`` command after its
acknowledgement, the JSON API's rate limiter), opens the database and chooses how post-ack
work runs. The modules that need them read :func:`current` (or :func:`crm.runtime.current`)
when they run: the background pool's size and priority and App Home's refresh interval are
plain settings, so they are read from the runtime.

Why the command handlers come in as arguments: they live with the ``/crm`` listener
(:mod:`bot.listeners.commands.crm`), which hands jobs to :mod:`bot.command_runner`, which
reads them here; importing them here would close that circle. :func:`bot.app.build_app`
passes the Slack app's handlers, ``crm chat`` its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from bot import background
from crm import runtime
from crm.config import Settings
from crm.db import open_database

Runner = Callable[[Any], object]


@dataclass(frozen=True)
class ApiLimiter:
    """The JSON API's per-token budget: in Redis when ``REDIS_URL`` is set, so every web
    process and machine shares one; in process memory otherwise (see :mod:`bot.api.auth`)."""

    storage: Any
    strategy: SlidingWindowCounterRateLimiter
    item: RateLimitItemPerMinute


def api_limiter(settings: Settings) -> ApiLimiter:
    if settings.redis_url:
        storage: Any = RedisStorage(
            settings.redis_url,
            key_prefix=f"{settings.redis_namespace}:api-rate",
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
    else:
        storage = MemoryStorage()
    item = RateLimitItemPerMinute(settings.api_rate_limit)
    return ApiLimiter(storage, SlidingWindowCounterRateLimiter(storage), item)


@dataclass(frozen=True)
class Web:
    """What the web layer was given. ``run_command`` runs a parsed ``/crm`` job after its
    acknowledgement; ``abandon_command`` tells its member it may not have run to its end
    (its handler process died while running it)."""

    settings: Settings
    run_command: Runner
    abandon_command: Runner
    api_limiter: ApiLimiter


_lock = threading.Lock()
_current: Web | None = None


def compose_web(
    settings: Settings,
    *,
    run_command: Runner,
    abandon_command: Runner,
    database: bool = True,
    inline: bool = False,
) -> Web:
    """Wire this process for ``settings`` and return what was installed.

    ``database=False``: the caller opened it already (``crm chat`` after the CLI's
    :func:`crm.cli.connect`). ``inline``: post-ack work runs where it is submitted
    (:func:`bot.background.run_inline`), for one member at a keyboard.
    """
    runtime.install(runtime.Runtime.for_settings(settings))
    if database:
        open_database(settings.database_url)
    if inline:
        background.run_inline()
    web = Web(settings, run_command, abandon_command, api_limiter(settings))
    install(web)
    return web


def install(web: Web | None) -> Web | None:
    """Make ``web`` this process's; returns the one it replaces (a test puts it back)."""
    global _current
    with _lock:
        previous, _current = _current, web
    return previous


def current() -> Web:
    web = _current
    if web is None:
        raise RuntimeError("bot.composition.compose_web() was not called in this process")
    return web
