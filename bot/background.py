"""Work that must not hold up Slack's 3-second acknowledgement.

One bounded thread pool per process runs the post-ack work of buttons (:mod:`bot.respond`)
and App Home refreshes, and the ``/crm`` commands that :mod:`bot.command_runner` runs: in the
handler process beside each web worker, or here where there is none. Peewee keeps one
connection per thread; what happens to it when a request or job ends depends on the database
(:func:`release_connection`).

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
import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

from playhouse.pool import PooledDatabase

from crm import runtime
from crm.db import database

T = TypeVar("T")

IDLE = "idle"
_executor: Executor | None = None
_executor_lock = threading.Lock()


def _priority() -> int | str:
    """``CRM_HANDLER_NICENESS`` of this process's settings: ``idle`` or a niceness 0-19."""
    return runtime.current().settings.handler_niceness


def lower_thread_priority() -> None:
    """The calling pool thread yields the cores to request threads (Linux schedules threads
    one by one), so an acknowledgement waits less behind post-ack work on a busy machine.

    Never below niceness 10 here, even with ``idle``: a thread sharing a GIL with request
    threads that the kernel leaves waiting while it holds the GIL would hold them all.
    """
    priority = _priority()
    niceness = 10 if priority == IDLE else int(priority)
    if niceness and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # not permitted (some containers): normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


def lower_process_priority() -> None:
    """The handler process (:mod:`bot.command_runner`), called before it starts a thread (they
    inherit it). It shares no GIL with acknowledgements, so with ``idle`` it may yield the CPU
    entirely: Linux runs a ``SCHED_IDLE`` task only on a core no other task wants, and a
    waking acknowledgement preempts it at once, where a niceness still lets it finish its
    time slice first (``bench/ack.py`` on SQLite: ack p99 2.1x a bare Bolt app's at niceness
    10, 0.7-1.3x at ``idle``)."""
    if _priority() == IDLE and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
    lower_thread_priority()


class _Inline(Executor):
    """Runs each job at once on the submitting thread (see :func:`run_inline`)."""

    def submit(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:
            future.set_exception(e)
        return future


def run_inline() -> None:
    """``crm chat`` (:mod:`bot.chat`, through :func:`bot.composition.compose_web`): one
    member at a keyboard, no 3-second clock; running each job where it is submitted lets the
    terminal print a command's (or a button's) whole answer before it reads the next line."""
    global _executor
    with _executor_lock:
        _executor = _Inline()


def executor() -> Executor:
    """The pool, built on first use: after gunicorn's fork, at ``CRM_HANDLER_THREADS``."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=runtime.current().settings.handler_threads,
                thread_name_prefix="crm-handler",
                initializer=lower_thread_priority,
            )
        return _executor


def with_db(fn: Callable[[], T]) -> T:
    """Run ``fn`` with this thread's connection, released afterwards."""
    try:
        return fn()
    finally:
        release_connection()


ANSWER_WAIT = 0.5  # seconds a job waits at most for acknowledgements being answered
_answering: dict[object, float] = {}  # requests of this process not yet answered -> start
_answered = threading.Condition()
_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("crm_in_request", default=False)


@contextlib.contextmanager
def answer_first() -> Iterator[Callable[[], None]]:
    """Mark a request as being answered until the returned callable is called (the web layer
    calls it once the HTTP answer has been written). Jobs wait to start while any request of
    the process is being answered, at most :data:`ANSWER_WAIT`.

    Why: a job is queued before its listener returns (so nothing is lost), but a job that
    starts at once competes for the GIL with the request threads that still have to send
    their acknowledgements, and Slack's members arrive in bursts. An acknowledgement is a
    millisecond or two of Python; letting it go first costs the jobs about that, and keeps
    the acknowledgement as fast as Bolt's own (``bench/ack.py``).
    """
    key = object()
    with _answered:
        _answering[key] = time.monotonic()
    token = _in_request.set(True)

    def answered() -> None:
        with _answered:
            _answering.pop(key, None)
            _answered.notify_all()

    try:
        yield answered
    except BaseException:
        answered()
        raise
    finally:
        _in_request.reset(token)


def _after_answers() -> None:
    deadline = time.monotonic() + ANSWER_WAIT
    with _answered:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            # an answer that never reported back (a dropped connection) stops counting
            if not any(now - started < ANSWER_WAIT for started in _answering.values()):
                for key in [k for k, t in _answering.items() if now - t >= 60]:
                    del _answering[key]
                return
            _answered.wait(deadline - now)


def submit(fn: Callable[[], T]) -> Future[T]:
    if not _in_request.get():
        return executor().submit(with_db, fn)

    def after_the_answers() -> T:
        _after_answers()
        return fn()

    return executor().submit(with_db, after_the_answers)


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
