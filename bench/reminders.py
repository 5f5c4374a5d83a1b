"""How fast do due reminders reach Slack through the workers, against a plain HTTP loop?

``--reminders`` overdue follow-ups (default 10,000), each assigned to a different member, so
each reminder is a DM to its own channel and the 1-per-second-per-channel limit paces nobody
in particular. Both sides talk to the same Slack stand-in (the tests' FakeSlack, in a child
process so that it does not share a GIL with what it measures):

- ``plain loop``: one thread doing ``conversations.open`` + ``chat.postMessage`` per reminder
  with slack-sdk, the same Block Kit payload, no database, no queue, no limits (the baseline);
- ``workers``: the product path, as the Procfile runs it (``dramatiq workers.actors`` with
  ``--processes`` x ``--threads``, Redis broker): one ``scan_reminders`` message that hands
  the due reminders to ``send_reminders`` in batches (``CRM_REMINDER_BATCH``, default 20),
  then workers claiming each reminder in the database, opening the DM, passing the
  per-channel rate limiter in Redis, posting, and recording it.

Prints both rates and workers/plain (goal >= 0.5), the CPU time each side spent per reminder
(the plain loop's thread; the worker processes including their start-up), and checks every DM
went out once and no channel got two posts within a second.

    .venv/bin/python -m bench.reminders [--reminders 10000] [--processes 2] [--threads 8]
                                        [--database-url URL]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from slack_sdk import WebClient

from bench._common import (
    FakeSlackProcess,
    bulk_insert,
    insert_companies,
    is_pg,
    open_bench_database,
)
from bot.blocks.followups import reminder_blocks, reminder_text
from crm.clock import utcnow
from crm.config import load_settings
from crm.models import ALL_MODELS, FollowUp

REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN = "xoxb-bench"


def daytime_zone() -> str:
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


# --- data -------------------------------------------------------------------------------------


def build(db, n: int) -> None:  # type: ignore[no-untyped-def]
    """One company, ``n`` members in a zone where it is midday, one overdue follow-up each."""
    if is_pg(db):
        tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
        db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    else:
        for model in reversed(ALL_MODELS):
            db.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
    now = utcnow()
    stamp = now if is_pg(db) else now.strftime("%Y-%m-%d %H:%M:%S")
    due = now - timedelta(hours=1)
    due = due if is_pg(db) else due.strftime("%Y-%m-%d %H:%M:%S")
    zone = daytime_zone()
    with db.atomic():
        insert_companies(db, "TBENCH", 1, stamp)
        bulk_insert(
            db,
            "cms_leads",
            [
                "id",
                "company_id",
                "name",
                "source",
                "status",
                "priority",
                "tags",
                "created_at",
                "updated_at",
            ],
            [(1, 1, "Mwila Banda", "other", "new", "medium", "[]", stamp, stamp)],
        )
        bulk_insert(
            db,
            "cms_members",
            [
                "id",
                "company_id",
                "slack_user_id",
                "name",
                "tz",
                "role",
                "is_active",
                "refreshed_at",
                "created_at",
                "updated_at",
            ],
            [
                (i, 1, f"UB{i:06d}", f"Rep {i}", zone, "rep", True, stamp, stamp, stamp)
                for i in range(1, n + 1)
            ],
        )
        bulk_insert(
            db,
            "cms_follow_ups",
            [
                "company_id",
                "followable_type",
                "followable_id",
                "title",
                "due_at",
                "priority",
                "assigned_to_id",
                "status",
                "reminder_count",
                "created_at",
                "updated_at",
            ],
            [
                (1, "lead", 1, f"Call back #{i}", due, "medium", i, "overdue", 0, stamp, stamp)
                for i in range(1, n + 1)
            ],
        )


# --- the two sides ----------------------------------------------------------------------------


def plain_loop(api_url: str, n: int) -> float:
    """The baseline: the same two calls per reminder, back to back, nothing else."""
    client = WebClient(token=TOKEN, base_url=api_url)
    due = utcnow() - timedelta(hours=1)
    started, cpu = time.perf_counter(), time.thread_time()
    for i in range(1, n + 1):
        channel = client.conversations_open(users=f"UB{i:06d}")["channel"]["id"]
        client.chat_postMessage(
            channel=channel,
            text=reminder_text(i, f"Call back #{i}"),
            blocks=reminder_blocks(
                follow_up_id=i, title=f"Call back #{i}", due_at=due, subject="L1 Mwila Banda"
            ),
        )
    PLAIN_CPU.append(time.thread_time() - cpu)
    return time.perf_counter() - started


# CPU seconds of each side (the plain loop's thread; the worker processes, once reaped):
# a figure that a busy machine changes much less than the rates
PLAIN_CPU: list[float] = []
WORKER_CPU: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def through_workers(
    fake: FakeSlackProcess, database_url: str, n: int, processes: int, threads: int
) -> float:
    """Workers as the Procfile runs them: Dramatiq's CLI, ``processes`` x ``threads``."""
    from workers import (
        actors,  # noqa: F401  (declares every actor)
        composition,
    )
    from workers.reminders import scan_reminders

    namespace = f"crmbench-{uuid.uuid4().hex[:8]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_", "REDIS_", "CRM_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        CRM_REDIS_NAMESPACE=namespace,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_API_URL=fake.api_url,
    )
    settings = load_settings(env)
    workers = composition.build(settings)
    composition.install(workers)
    broker = workers.broker
    client = redis.Redis.from_url(REDIS_URL)
    dramatiq_cli = str(Path(sys.executable).with_name("dramatiq"))
    cpu_before = _children_cpu()
    proc = subprocess.Popen(
        [dramatiq_cli, "workers.actors", "--processes", str(processes), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while client.zcard(f"{namespace}:dramatiq:__heartbeats__") < processes:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the dramatiq workers did not start")
            time.sleep(0.1)
        started = time.perf_counter()
        scan_reminders.send()
        while FollowUp.select().where(FollowUp.reminder_count > 0).count() < n:
            if proc.poll() is not None:
                raise SystemExit("the dramatiq workers died")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        # includes start-up and shutdown (imports: about a second per process)
        WORKER_CPU.append(_children_cpu() - cpu_before)
        broker.close()
        keys = list(client.scan_iter(f"{namespace}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()


def check_posts(posts: list[tuple[str, float]], n: int) -> str:
    by_channel: dict[str, list[float]] = defaultdict(list)
    for channel, at in posts:
        by_channel[channel].append(at)
    if len(posts) != n or len(by_channel) != n:
        raise SystemExit(f"expected {n} DMs to {n} channels, got {len(posts)} to {len(by_channel)}")
    for times in by_channel.values():
        times.sort()
        if any(b - a < 1.0 for a, b in itertools.pairwise(times)):
            raise SystemExit("a channel got two posts within a second")
    return f"{n:,} DMs, one per channel"


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    parser.add_argument(
        "--database-url", default="sqlite:////tmp/crm_bench_reminders.db", help="peewee URL"
    )
    args = parser.parse_args()
    n = args.reminders
    if min(n, args.processes, args.threads) < 1:
        parser.error("--reminders, --processes and --threads must be at least 1")
    if args.database_url.startswith("sqlite:///"):
        path = Path(args.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_bench_database(args.database_url)
    print(f"building {n:,} overdue follow-ups for {n:,} members ...", flush=True)
    build(db, n)
    db.close()

    fake = FakeSlackProcess()
    try:
        plain = plain_loop(fake.api_url, n)
        check_posts(fake.posts(), n)
        fake.clear()
        workers = through_workers(fake, args.database_url, n, args.processes, args.threads)
        checked = check_posts(fake.posts(), n)
    finally:
        fake.stop()
    plain_rate, worker_rate = n / plain, n / workers
    ratio = worker_rate / plain_rate
    safe_url = args.database_url.split("@")[-1]
    shape = f"{args.processes} worker processes x {args.threads} threads"
    print(f"reminders to Slack on {safe_url} ({n:,} reminders, {shape})")
    print(f"  plain loop  {plain:7.2f} s  {plain_rate:8.1f} reminders/s")
    print(f"  workers     {workers:7.2f} s  {worker_rate:8.1f} reminders/s  ({checked})")
    if PLAIN_CPU and WORKER_CPU:
        plain_ms, worker_ms = 1000 * PLAIN_CPU[0] / n, 1000 * WORKER_CPU[0] / n
        print(f"  CPU per reminder: plain loop {plain_ms:.2f} ms, workers {worker_ms:.2f} ms")
    verdict = "ok" if ratio >= 0.5 else "UNDER GOAL"
    print(f"  ratio workers/plain = {ratio:.2f}  (goal >= 0.5: {verdict})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
