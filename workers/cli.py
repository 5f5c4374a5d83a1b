"""``crm serve``, ``crm scheduler`` and ``crm jobs failed|retry`` (SPEC 9), and the ``crm``
program itself (:func:`main`).

Registered with :func:`crm.cli.command` from here, so that ``crm/`` never imports Dramatiq or
APScheduler: this module imports them only inside the commands. ``workers`` is the top layer
(it runs the web process in ``crm serve``), so the program's entry point lives here and
imports the modules of the other layers that register commands; ``crm/cli.py`` names none.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Any

from rich.table import Table

import bot.cli  # noqa: F401  (registers `crm chat`)
import crm.insight.cli  # noqa: F401  (registers `crm insight`)
from crm import cli
from crm.cli import command, console
from crm.config import ConfigError, load_settings


def _configure_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--threads", type=int, default=4, help="worker threads (default 4)")


@command(
    "serve",
    "run the web app, workers and scheduler in one process (embedded mode)",
    _configure_serve,
)
def _serve(args: argparse.Namespace) -> int:
    from workers.embedded import serve

    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads} must be at least 1")
    return serve(load_settings(), host=args.host, threads=args.threads)


@command("scheduler", "run the scheduler: enqueues periodic jobs; one leader via Redis")
def _scheduler(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError(
            "REDIS_URL is required for `crm scheduler`: it hands jobs to the workers and holds "
            "the one-leader lock (without Redis, `crm serve` runs a scheduler in-process)"
        )
    from workers import actors  # noqa: F401  (declares every actor)
    from workers.composition import compose_workers
    from workers.middleware import configure_logging
    from workers.scheduler import Scheduler, job_specs, lease_for

    configure_logging()
    workers = compose_workers(settings)
    scheduler = Scheduler(workers.broker, lease_for(settings, workers.redis), job_specs(settings))

    def stop(signum: int, frame: Any) -> None:
        scheduler.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()  # blocks until stop()
    return 0


def _configure_jobs(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    failed = sub.add_parser("failed", help="list jobs that ran out of retries (dead letters)")
    failed.add_argument("--queue", help="only this queue (reminders, digests, metrics)")
    failed.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    retry = sub.add_parser("retry", help="re-enqueue dead letters")
    retry.add_argument("ids", nargs="*", help="ids from `crm jobs failed`")
    retry.add_argument("--all", action="store_true", help="every dead letter")


@command("jobs", "background jobs that failed: list and retry them", _configure_jobs)
def _jobs(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError(
            "REDIS_URL is not set: in embedded mode failed jobs are not kept across restarts, "
            "and the periodic scans retry whatever is still due"
        )
    from workers import actors  # noqa: F401  (declares every actor)
    from workers.composition import compose_workers
    from workers.jobs import failed_jobs, retry_jobs

    broker = compose_workers(settings).broker
    if args.jobs_command == "failed":
        if args.limit < 1:
            raise ConfigError(f"--limit {args.limit} must be at least 1")
        dead = failed_jobs(broker, queue=args.queue, limit=args.limit)
        if not dead:
            console.print("no failed jobs")
            return 0
        table = Table("id", "failed at (UTC)", "queue", "job", "arguments", "tries", "error")
        for d in dead:
            arguments = ", ".join(
                [*map(repr, d.args), *(f"{k}={v!r}" for k, v in d.kwargs.items())]
            )
            table.add_row(
                d.id,
                f"{d.failed_at:%Y-%m-%d %H:%M:%S}",
                d.queue,
                d.actor,
                arguments,
                str(d.retries),
                d.short_error,
            )
        console.print(table)
        console.print(f"{len(dead)} failed job(s); `crm jobs retry ID` or `crm jobs retry --all`")
        return 0
    if not args.ids and not args.all:
        raise ConfigError("name the jobs to retry (ids from `crm jobs failed`) or pass --all")
    count = retry_jobs(broker, None if args.all else list(args.ids))
    console.print(f"re-enqueued {count} job(s)")
    return 0 if count or args.all else 2


def main(argv: Sequence[str] | None = None) -> int:
    """The ``crm`` program (``[project.scripts]``; ``python -m workers.cli`` too)."""
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
