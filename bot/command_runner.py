"""Where a ``/crm`` command runs after its acknowledgement: in a handler process beside the web
worker that acknowledged it, or (where there is none) on that process's background pool.

Why a process of its own: a command is ~10 ms of Python (company and member, the use case,
Block Kit, the receipt) and an acknowledgement ~1 ms. In one process they share one GIL, so
an acknowledgement arriving while commands run waits for the GIL on top of the CPU; worse, a
handler thread at a lower OS priority that the kernel preempts while it holds the GIL holds
every acknowledgement behind it (a priority inversion the lower priority cannot fix). In a
process of its own the handler work is only CPU, at a lower priority, and the kernel gives the
cores to acknowledgements first. ``bench/ack.py`` measures the difference.

How, under gunicorn (``bot/gunicorn_conf.py``):
- each web worker forks its handler process in ``post_worker_init``, right after it has built
  the app and before any thread exists: the child has the whole app loaded (no second import,
  no start-up time) and no lock half-held;
- a request thread puts the :class:`~bot.listeners.commands.crm.CommandJob` (plain data) on an
  in-memory queue and returns; one sender thread pickles jobs down a pipe, so a busy handler
  process never holds up an acknowledgement;
- the handler process runs each job on its pool (:mod:`bot.background`) at the lowest CPU
  priority (``CRM_HANDLER_NICENESS``, ``idle`` by default: Linux's ``SCHED_IDLE``);
- on shutdown the worker closes the pipe once its requests are answered; the handler process
  finishes every job it was given (each member was told "received") and exits, and the worker
  waits for it within gunicorn's ``graceful_timeout``;
- a handler process that died (killed, out of memory) is noticed at once (its report pipe
  closes): the jobs it had not started, and every later one, run in the worker itself, the
  member of a job it had started is told it may not have completed, and the worker asks
  gunicorn for a graceful replacement (whose own handler process is forked fresh).

Without gunicorn (``crm serve``, Socket Mode, an app built in-process) nothing forks, and the
jobs run on the background pool of the process that acknowledged them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from playhouse.pool import PooledDatabase

from bot import background, composition
from crm.db import database

log = logging.getLogger(__name__)

# seconds a handler process may take, once its worker has gone, to finish what it was given
DRAIN_LIMIT = 60.0

_link: _Link | None = None
_handover = threading.Lock()
_CLOSE = object()


def submit(job: Any) -> None:
    """Run ``job`` after the acknowledgement: in the handler process when this process has one,
    else here. Returns at once in either case."""
    with _handover:
        link = _link
        if link is not None:
            link.outbox.put(job)
            return
    _run_here(job)


def _run_here(job: Any) -> None:
    runner = composition.current().run_command  # what :func:`compose_web` was given
    background.submit(lambda: runner(job))


def start_process(
    *, close: Iterable[socket.socket] = (), on_lost: Callable[[], None] = lambda: None
) -> int | None:
    """Fork this process's handler process and send it every later job; returns its pid.

    ``close``: what the child must not hold (the worker's listening sockets). ``on_lost`` is
    called once if the child dies before it was told to stop. Returns ``None`` (jobs keep
    running here) when the process was not composed, or when threads already run: a fork
    copies their locks, not them.
    """
    global _link
    try:
        composition.current()
    except RuntimeError:
        return None
    if _link is not None:
        return None
    if threading.active_count() > 1:
        names = ", ".join(
            t.name for t in threading.enumerate() if t is not threading.current_thread()
        )
        log.warning("threads already running (%s): /crm commands run in the web worker", names)
        return None
    _release_connections()  # a connection open at the fork would be shared by two processes
    jobs_in, jobs_out = Pipe(duplex=False)
    events_in, events_out = Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the handler process; it never returns from here
        code = 1
        try:
            jobs_out.close()
            events_in.close()
            for sock in close:
                sock.close()
            _serve(jobs_in, events_out)
            code = 0
        except BaseException:
            log.exception("handler process failed")
        finally:
            logging.shutdown()
            os._exit(code)
    jobs_in.close()
    events_out.close()
    _link = _Link(pid, jobs_out, events_in, on_lost)
    log.info("handler process %d runs /crm commands for web worker %d", pid, os.getpid())
    return pid


def stop(timeout: float) -> None:
    """Hand the handler process its last jobs, close the pipe, and wait (at most ``timeout``
    seconds) for it to finish them. Jobs submitted from now on run here."""
    global _link
    with _handover:  # no job is put behind the close
        link, _link = _link, None
        if link is None:
            return
        link.outbox.put(_CLOSE)
    deadline = time.monotonic() + timeout
    link.sender.join(timeout)
    # the listener ends when the handler process closes its report pipe, on its way out
    link.listener.join(max(0.0, deadline - time.monotonic()))
    if link.listener.is_alive():
        log.warning("handler process %d still finishing jobs; not waiting longer", link.pid)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(link.pid, 0)


class _Link:
    """The worker's end: jobs wait in memory and one thread writes them down a pipe; another
    reads what the handler process reports back (job ``n`` started, job ``n`` done).

    Every job sent is kept until it is reported done. If the handler process dies first, the
    jobs it never started run here (nothing of them happened), and the member of each job it
    had started is told it may not have completed (part of it may have happened).
    """

    def __init__(
        self, pid: int, jobs: Connection, events: Connection, on_lost: Callable[[], None]
    ) -> None:
        self.pid = pid
        self.jobs = jobs
        self.events = events
        self.on_lost = on_lost
        self.outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.unfinished: dict[int, Any] = {}  # sent and not reported done
        self.started: set[int] = set()
        self.ended = False  # the handler process has gone; later jobs run here
        self.closing = False
        self.sender = threading.Thread(target=self._send_all, name="crm-handler-out", daemon=True)
        self.listener = threading.Thread(target=self._listen, name="crm-handler-in", daemon=True)
        self.sender.start()
        self.listener.start()

    def _send_all(self) -> None:
        for n in itertools.count():
            job = self.outbox.get()
            if job is _CLOSE:
                break
            with self.lock:
                sending = not self.ended
                if sending:
                    self.unfinished[n] = job
            if not sending:
                _run_here(job)
                continue
            try:
                self.jobs.send((n, job))
            except Exception as e:  # gone (a broken pipe), or a job that does not pickle
                log.warning("a /crm job could not reach handler process %d (%s)", self.pid, e)
                with self.lock:
                    mine = self.unfinished.pop(n, None) is not None
                if mine:  # else the listener found the process gone and took the job already
                    _run_here(job)
        with self.lock:
            self.closing = True
        self.jobs.close()

    def _listen(self) -> None:
        while True:
            try:
                event, n = self.events.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                if event == "started":
                    self.started.add(n)
                else:
                    self.unfinished.pop(n, None)
                    self.started.discard(n)
        with self.lock:
            self.ended = True
            left, self.unfinished = self.unfinished, {}
            started, closing = set(self.started), self.closing
        self.events.close()
        if left or not closing:
            log.error(
                "handler process %d is gone with %d job(s) unfinished; /crm commands run here",
                self.pid,
                len(left),
            )
        if not closing:
            self.on_lost()
        abandon = composition.current().abandon_command
        for n, job in sorted(left.items()):
            if n in started:
                background.submit(functools.partial(abandon, job))
            else:
                _run_here(job)


def _serve(jobs: Connection, events: Connection) -> None:
    """The handler process: run every job it receives until its worker closes the pipe, then
    finish them and return.

    It ignores the signals that stop its worker (a deploy's SIGTERM, a terminal's Ctrl-C reach
    both): it stops when the worker has handed over its last job, not before.
    """
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)  # the worker's wake-up pipe is not ours
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGABRT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    random.seed()
    sys.setswitchinterval(0.005)  # no acknowledgement waits on this GIL: Python's default
    background.lower_process_priority()  # before any thread: they inherit it
    runner = composition.current().run_command
    report_lock = threading.Lock()

    def report(event: str, n: int) -> None:
        with report_lock, contextlib.suppress(OSError):  # a worker gone keeps no score
            events.send((event, n))

    def run(n: int, job: Any) -> None:
        report("started", n)
        try:
            runner(job)
        finally:
            report("done", n)

    while True:
        try:
            n, job = jobs.recv()
        except EOFError:
            break
        background.submit(functools.partial(run, n, job))
    jobs.close()
    watchdog = threading.Timer(DRAIN_LIMIT, _give_up)
    watchdog.daemon = True
    watchdog.start()
    background.executor().shutdown(wait=True)  # every job, and what they queued (App Home)
    events.close()


def _give_up() -> None:
    log.error(
        "handler process %d: jobs still running %gs after its worker left", os.getpid(), DRAIN_LIMIT
    )
    logging.shutdown()
    os._exit(1)


def _release_connections() -> None:
    """Close every connection this process holds (all of a pool's, and this thread's SQLite
    one), not just hand this thread's back as :func:`bot.background.release_connection` does:
    both processes reopen theirs lazily after the fork."""
    db = database.obj
    if db is None:
        return
    if isinstance(db, PooledDatabase):
        db.close_all()
    elif not db.is_closed():
        db.close()
