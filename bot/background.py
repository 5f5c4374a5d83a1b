"""Work that must not hold up Slack's 3-second acknowledgement.

One bounded thread pool per web process runs every ``/crm`` command after its (empty)
acknowledgement (:mod:`bot.listeners.commands.crm`) and the post-ack work of buttons
(:mod:`bot.respond`). Peewee keeps one connection per thread; what happens to it when a
request or job ends depends on the database (:func:`release_connection`).

Sizing: the web process runs ``threads`` request threads per worker (see
``bot/gunicorn_conf.py``); the pool is larger (12), because a job waits on Slack
(``users.info`` on first sight, ``response_url``, chart uploads) and on the database, and
both together stay under the PostgreSQL pool's 32 connections per process. More threads buy
no CPU: on a saturated process they only share it, and the request threads' acknowledgements
share it with them (``bench/ack.py --handler-threads`` measures the trade). The queue is
unbounded on purpose: a job accepted after an acknowledgement must run (SPEC 5.1), and a
worker that shuts down finishes its queue first (Python joins the pool's threads at exit,
inside gunicorn's ``graceful_timeout``; ``tests/test_web.py`` stops one mid-command).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from playhouse.pool import PooledDatabase

from crm.db import database

T = TypeVar("T")

POOL_SIZE = int(os.environ.get("CRM_HANDLER_THREADS", "12"))
# Linux schedules threads one by one: a handler thread at a lower priority yields the cores to
# request threads, so an acknowledgement waits less behind post-ack work on a busy machine.
HANDLER_NICENESS = int(os.environ.get("CRM_HANDLER_NICENESS", "10"))


def _lower_priority() -> None:
    if HANDLER_NICENESS and hasattr(os, "setpriority"):
        # not permitted (some containers): run at normal priority
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HANDLER_NICENESS)


_executor = ThreadPoolExecutor(
    max_workers=POOL_SIZE, thread_name_prefix="crm-handler", initializer=_lower_priority
)


def executor() -> ThreadPoolExecutor:
    return _executor


def with_db(fn: Callable[[], T]) -> T:
    """Run ``fn`` with this thread's connection, released afterwards."""
    try:
        return fn()
    finally:
        release_connection()


def submit(fn: Callable[[], T]) -> Future[T]:
    return _executor.submit(with_db, fn)


def release_connection() -> None:
    """End of a request or job: a pooled (PostgreSQL) connection goes back to the pool, so
    an idle thread never holds one; a SQLite connection stays open with its thread.

    Why keep SQLite's: closing the last connection to a WAL database checkpoints and removes
    the WAL file (~20 ms, measured by ``bench/ack.py``), and reopening re-runs the pragmas; a
    SQLite connection holds no server resource, so one per long-lived thread is the cheap and
    correct shape. Queries open the connection lazily (peewee's autoconnect).
    """
    db = database.obj
    if isinstance(db, PooledDatabase) and not db.is_closed():
        db.close()
