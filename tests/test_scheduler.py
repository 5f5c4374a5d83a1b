"""The scheduler: jobs only enqueue, one leader through a Redis lease, handover after a crash.

Lease expiry is Redis's own clock, so these tests wait real (short) seconds: the TTLs are
configured down to one or two seconds instead of the production fifteen.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis

from crm.config import load_settings
from tests.workers_support import REDIS_URL, flush_namespace
from workers import (
    actors,  # noqa: F401  (declares every actor)
    composition,
)
from workers.scheduler import LocalLease, RedisLease, Scheduler, job_specs

ROOT = Path(__file__).resolve().parent.parent
CRM = str(Path(sys.executable).with_name("crm"))


@pytest.fixture
def namespace() -> Iterator[str]:
    ns = f"crmtest-{uuid.uuid4().hex[:10]}"
    yield ns
    flush_namespace(REDIS_URL, ns)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL)
    yield c
    c.close()


def test_jobs_only_enqueue_with_coalesce_and_one_instance() -> None:
    settings = load_settings({"CRM_SCAN_INTERVAL": "30", "CRM_NIGHTLY_AT": "03:15"})
    # an in-process broker of its own, whatever an earlier test left installed
    workers = composition.build(settings)
    composition.install(workers)
    broker = workers.broker
    scheduler = Scheduler(broker, LocalLease(), job_specs(settings), blocking=False)
    jobs = {job.id: job for job in scheduler.aps.get_jobs()}
    assert set(jobs) == {
        "reminders",
        "digests",
        "new-orders",
        "nightly-metrics",
        "nightly-insight",
        "closed-leads",
        "campaigns",
    }
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.func == scheduler._fire  # the job function enqueues, nothing else
    assert jobs["reminders"].trigger.interval.total_seconds() == 30
    assert jobs["reminders"].misfire_grace_time == 30
    assert str(jobs["nightly-metrics"].trigger) == "cron[hour='3', minute='15']"
    [spec] = [s for s in job_specs(settings) if s.id == "reminders"]
    before = broker.queues["reminders"].qsize()
    scheduler._fire(spec)
    assert broker.queues["reminders"].qsize() == before + 1
    broker.flush_all()


def test_bad_intervals_are_refused_with_the_variable_named() -> None:
    from crm.config import ConfigError

    with pytest.raises(ConfigError, match="CRM_SCAN_INTERVAL='0'"):
        job_specs(load_settings({"CRM_SCAN_INTERVAL": "0"}))
    with pytest.raises(ConfigError, match="CRM_NIGHTLY_AT"):
        job_specs(load_settings({"CRM_NIGHTLY_AT": "late"}))


def test_one_lease_holder_and_takeover_after_the_ttl(client: redis.Redis, namespace: str) -> None:
    key = f"{namespace}:scheduler:leader"
    first, second = RedisLease(client, key, ttl=1), RedisLease(client, key, ttl=1)
    first.tick()
    second.tick()
    assert first.held() and not second.held()
    first.tick()  # renewal keeps it
    assert first.held() and client.get(key).decode() == first.token

    started = time.monotonic()  # the first one stops renewing (killed)
    while not second.held():
        assert time.monotonic() - started < 3, "no takeover"
        time.sleep(0.05)
        second.tick()
    assert not first.held()  # it stopped trusting its lease before the key expired
    first.tick()
    assert not first.held() and client.get(key).decode() == second.token
    second.release()
    assert client.get(key) is None


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [CRM, "scheduler"], cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _firings(client: redis.Redis, namespace: str) -> list[float]:
    """The time (s) of every scan_reminders message the schedulers enqueued."""
    raw = client.hvals(f"{namespace}:dramatiq:reminders.msgs")
    times = [dramatiq.Message.decode(m).message_timestamp / 1000 for m in raw]
    return sorted(times)


@pytest.mark.slow
def test_two_schedulers_fire_once_and_the_standby_takes_over(
    client: redis.Redis, namespace: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "REDIS_", "DATABASE_"))}
    env.update(
        REDIS_URL=REDIS_URL,
        CRM_REDIS_NAMESPACE=namespace,
        CRM_SCHEDULER_LOCK_TTL="2",
        CRM_SCAN_INTERVAL="1",
        CRM_DIGEST_SCAN_INTERVAL="3600",
        CRM_METRICS_SCAN_INTERVAL="3600",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}",
        PYTHONUNBUFFERED="1",
    )
    procs = [_start(env, tmp_path / f"scheduler{i}.log") for i in (1, 2)]
    key = f"{namespace}:scheduler:leader"
    try:
        deadline = time.monotonic() + 20
        while len(_firings(client, namespace)) < 5:
            assert time.monotonic() < deadline, (tmp_path / "scheduler1.log").read_text()
            time.sleep(0.1)
        before = _firings(client, namespace)
        gaps = [b - a for a, b in itertools.pairwise(before)]
        assert min(gaps) > 0.5, f"two firings at once: {before}"

        leader_pid = int(client.get(key).decode().split(":")[1])
        [leader] = [p for p in procs if p.pid == leader_pid]
        [standby] = [p for p in procs if p.pid != leader_pid]
        killed_at = time.time()
        leader.send_signal(signal.SIGKILL)
        leader.wait()

        deadline = time.monotonic() + 30
        while not [t for t in _firings(client, namespace) if t > killed_at]:
            assert time.monotonic() < deadline, "the standby never took over"
            time.sleep(0.1)
        after = [t for t in _firings(client, namespace) if t > killed_at]
        handover = after[0] - killed_at
        assert handover < 30
        assert int(client.get(key).decode().split(":")[1]) == standby.pid
        everything = _firings(client, namespace)
        gaps = [b - a for a, b in itertools.pairwise(everything)]
        assert min(gaps) > 0.5, f"two firings at once: {everything}"
        print(f"handover after SIGKILL of the leader: {handover:.2f}s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
