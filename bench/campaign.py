"""P5: how fast does an email campaign go out through the workers, against a plain smtplib loop?

``--recipients`` customers (default 100,000) with an email address, all in one segment; both
sides send to the same loopback SMTP sink (aiosmtpd, in a child process so that it does not
share a GIL with what it measures), in the same run:

- ``plain loop``: one thread, one SMTP connection, ``smtplib.send_message`` of a two-part
  (text + HTML) email per recipient, built with ``email.message``; no database, no template,
  no queue (the baseline);
- ``workers``: the product path as the Procfile runs it (``dramatiq workers.actors`` with
  ``--processes`` x ``--threads``, Redis broker): the campaign is started with Send now (its
  audience materialised by one INSERT ... SELECT, timed apart), then ``CRM_CAMPAIGN_PARALLEL``
  dispatch messages claim batches under a lease, render each message in the Jinja2 sandbox
  with its tracked links, send the batch over one SMTP connection, record it in one
  transaction.

Prints both rates and workers/plain (goal >= 0.5), the peak RSS of each worker process (goal
< 300 MB), the time to materialise the audience, and the messages per recipient at the sink
(goal: exactly one each). The email rate limit is lifted (``CRM_CAMPAIGN_EMAIL_RATE=0``) so
the ratio measures the pipeline, not the configured pace; ``--rate`` puts one back.

    .venv/bin/python -m bench.campaign [--recipients 100000] [--processes 2] [--threads 8]
        [--parallel 4] [--batch 200] [--rate 0] [--database-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections import Counter
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path

import redis

from bench._common import bulk_insert, insert_companies, is_pg, open_bench_database
from crm.clock import utcnow
from crm.models import ALL_MODELS, Campaign

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "pWtMcwYmHmZQdEq0z3oSMwlTByyQZqNAWysEyK3y3nE="  # a throwaway key for the run


# --- the SMTP sink in its own process ---------------------------------------------------------


def _serve_sink(conn: Connection) -> None:
    from aiosmtpd.controller import Controller

    ids: Counter[bytes] = Counter()
    per_to: dict[bytes, set[bytes]] = {}

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            head = envelope.content.split(b"\r\n\r\n", 1)[0]
            mid = b""
            for line in head.split(b"\r\n"):
                if line[:11].lower() == b"message-id:":
                    mid = line[11:].strip()
                    break
            ids[mid] += 1
            for rcpt in envelope.rcpt_tos:
                per_to.setdefault(rcpt.encode(), set()).add(mid)
            return "250 OK"

    import socket

    with socket.socket() as probe:  # aiosmtpd's start-up check needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    conn.send(port)
    while True:
        command = conn.recv()
        if command == "stop":
            controller.stop()
            return
        if command == "count":
            conn.send(sum(ids.values()))
        elif command == "report":
            per = Counter(len(v) for v in per_to.values())
            conn.send((sum(ids.values()), len(per_to), dict(per), max(ids.values(), default=0)))
        elif command == "clear":
            ids.clear()
            per_to.clear()
            conn.send(True)


class Sink:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_sink, args=(child,), daemon=True)
        self.proc.start()
        self.port: int = self.conn.recv()

    def ask(self, command: str):  # type: ignore[no-untyped-def]
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)


# --- data -------------------------------------------------------------------------------------


def build(db, n: int) -> None:  # type: ignore[no-untyped-def]
    """One company, its manager, ``n`` retail customers with an email, the retail segment."""
    if is_pg(db):
        tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
        db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    else:
        for model in reversed(ALL_MODELS):
            db.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
    now = utcnow()
    stamp = now if is_pg(db) else now.strftime("%Y-%m-%d %H:%M:%S")
    with db.atomic():
        insert_companies(db, "TBENCH", 1, stamp)
        bulk_insert(
            db,
            "cms_members",
            ["id", "company_id", "slack_user_id", "name", "tz", "role", "is_active",
             "created_at", "updated_at"],
            [(1, 1, "UBMGR", "Manager", "UTC", "manager", True, stamp, stamp)],
        )  # fmt: skip
        bulk_insert(
            db,
            "cms_customers",
            ["company_id", "name", "email", "company_name", "industry", "tags", "unsubscribed",
             "created_at", "updated_at"],
            (
                (1, f"Customer {i}", f"c{i}@bench.test", f"Firm {i}", "retail", "[]", "[]",
                 stamp, stamp)
                for i in range(1, n + 1)
            ),
        )  # fmt: skip
        bulk_insert(
            db,
            "cms_customer_segments",
            ["company_id", "name", "criteria", "customer_count", "is_active", "created_at",
             "updated_at"],
            [(1, "Retail", '{"industry": "retail"}', n, True, stamp, stamp)],
        )  # fmt: skip
    if is_pg(db):
        db.execute_sql("ANALYZE")


SUBJECT = "Spring offer for {{ first_name }}"
BODY = (
    "Dear {{ name }},\n\nour spring range is in: https://shop.bench.test/spring\n"
    "As a {{ tier }} customer of {{ our_company }} you get 10% off until Friday.\n"
)


# --- the two sides ----------------------------------------------------------------------------


def plain_loop(port: int, n: int) -> float:
    """The baseline: one connection, a two-part message per recipient, back to back."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(1, n + 1):
            msg = EmailMessage()
            msg["From"] = "news@bench.test"
            msg["To"] = f"c{i}@bench.test"
            msg["Subject"] = f"Spring offer for Customer{i}"
            msg["Message-ID"] = f"<plain-{i}@bench.test>"
            text = f"Dear Customer {i},\n\nour spring range is in: https://shop.bench.test/spring\n"
            msg.set_content(text)
            msg.add_alternative(f"<p>{text}</p>", subtype="html")
            smtp.send_message(msg)
    return time.perf_counter() - started


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def through_workers(sink: Sink, database_url: str, n: int, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Send now, then the Procfile's workers; returns (seconds, materialise seconds, RSS)."""
    namespace = f"crmbench-{uuid.uuid4().hex[:8]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DATABASE_", "REDIS_", "CRM_", "SMTP_", "MAIL_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        CRM_REDIS_NAMESPACE=namespace,
        CRM_SECRET_KEY=SECRET,
        SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        MAIL_FROM="Bench <news@bench.test>",
        PUBLIC_URL="https://crm.bench.test",
        CRM_CAMPAIGN_BATCH=str(args.batch),
        CRM_CAMPAIGN_PARALLEL=str(args.parallel),
        CRM_CAMPAIGN_EMAIL_RATE=str(args.rate),
        CRM_CAMPAIGN_SCAN_INTERVAL="3600",  # the bench enqueues; no scheduler runs
    )
    os.environ.update({k: env[k] for k in ("CRM_SECRET_KEY", "REDIS_URL", "CRM_REDIS_NAMESPACE")})
    from crm.acting import Actor
    from crm.campaigns import service
    from crm.config import load_settings
    from workers import (
        actors,  # noqa: F401  (declares every actor)
        composition,
    )
    from workers.campaigns import enqueue

    settings = load_settings(env)
    broker = composition.compose_workers(settings).broker  # the runtime too (its key)
    client = redis.Redis.from_url(REDIS_URL)
    manager = Actor(company_id=1, kind="member", origin="cli", role="manager", member_id=1)
    campaign = service.create_campaign(
        manager, name="Bench", channel="email", segment_id=1, subject=SUBJECT, body=BODY
    )
    t0 = time.perf_counter()
    campaign = service.send_now(manager, campaign.id)
    materialise = time.perf_counter() - t0
    if campaign.audience_count != n:
        raise SystemExit(f"audience {campaign.audience_count}, expected {n}")
    dramatiq_cli = str(Path(sys.executable).with_name("dramatiq"))
    proc = subprocess.Popen(
        [dramatiq_cli, "workers.actors", "--processes", str(args.processes),
         "--threads", str(args.threads)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rss: list[float] = []
    try:
        deadline = time.monotonic() + 60
        while client.zcard(f"{namespace}:dramatiq:__heartbeats__") < args.processes:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the dramatiq workers did not start")
            time.sleep(0.1)
        started = time.perf_counter()
        enqueue(campaign.id)
        while Campaign.get_by_id(campaign.id).status != "sent":
            if proc.poll() is not None:
                raise SystemExit("the dramatiq workers died")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss = [_peak_rss_mb(pid) for pid in _children(proc.pid)]
        return elapsed, materialise, rss, service.figures(campaign)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        broker.close()
        keys = list(client.scan_iter(f"{namespace}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.campaign", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    parser.add_argument("--parallel", type=int, default=4, help="CRM_CAMPAIGN_PARALLEL")
    parser.add_argument("--batch", type=int, default=200, help="CRM_CAMPAIGN_BATCH")
    parser.add_argument("--rate", type=float, default=0, help="CRM_CAMPAIGN_EMAIL_RATE (0: none)")
    parser.add_argument(
        "--database-url", default="sqlite:////tmp/crm_bench_campaign.db", help="peewee URL"
    )
    args = parser.parse_args()
    n = args.recipients
    if min(n, args.processes, args.threads, args.parallel, args.batch) < 1:
        parser.error("--recipients, --processes, --threads, --parallel, --batch: at least 1")
    if args.database_url.startswith("sqlite:///"):
        path = Path(args.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_bench_database(args.database_url)
    print(f"building {n:,} customers in one segment ...", flush=True)
    build(db, n)

    sink = Sink()
    try:
        plain = plain_loop(sink.port, n)
        total, _, _, _ = sink.ask("report")
        if total != n:
            raise SystemExit(f"the plain loop delivered {total} of {n}")
        sink.ask("clear")
        workers, materialise, rss, figures = through_workers(sink, args.database_url, n, args)
        total, people, per, _ = sink.ask("report")
    finally:
        sink.stop()
    once = per == {1: n} and people == n
    plain_rate, worker_rate = n / plain, n / workers
    ratio = worker_rate / plain_rate
    safe_url = args.database_url.split("@")[-1]
    shape = f"{args.processes} processes x {args.threads} threads, {args.parallel} dispatchers"
    print(f"campaign email on {safe_url} ({n:,} recipients, {shape}, batch {args.batch})")
    print(f"  audience materialised (one INSERT ... SELECT): {materialise:.2f} s")
    print(f"  plain smtplib loop  {plain:7.2f} s  {plain_rate:8.1f} messages/s")
    print(f"  workers             {workers:7.2f} s  {worker_rate:8.1f} messages/s")
    verdict = "ok" if ratio >= 0.5 else "UNDER GOAL"
    print(f"  ratio workers/plain = {ratio:.2f}  (goal >= 0.5: {verdict})")
    peak = max(rss, default=0.0)
    rss_text = ", ".join(f"{r:.0f} MB" for r in rss) or "n/a"
    print(f"  peak RSS per worker process: {rss_text}  (goal < 300 MB: "
          f"{'ok' if peak < 300 else 'OVER GOAL'})")  # fmt: skip
    print(
        f"  at the sink: {total:,} messages to {people:,} recipients, messages per recipient "
        f"{per} (goal exactly one each: {'ok' if once else 'NOT MET'}); card: sent "
        f"{figures.sent:,}, failed {figures.failed}, resent {figures.resent}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
