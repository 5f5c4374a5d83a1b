"""Fixtures for the worker tests: a FakeSlack, real Dramatiq workers on a StubBroker or on the
real Redis (each test run in its own key namespace, flushed afterwards), and a private
redis-server that a test may stop and start.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

from crm.config import Settings, load_settings
from tests.conftest import TestDB
from tests.slack_fake import Call, FakeSlack
from workers import (
    actors,  # noqa: F401  (declares every actor)
    composition,
)
from workers import slack as worker_slack

REDIS_URL = "redis://127.0.0.1:6379/0"
BOT_TOKEN = "xoxb-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(db: TestDB, fake: FakeSlack, **extra: str) -> dict[str, str]:
    """The environment of a worker/scheduler/web process in these tests."""
    return {
        "DATABASE_URL": db.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": fake.api_url,
        "CRM_SLACK_MAX_WAIT": "0",  # every 429 becomes a delayed retry: no blocked threads
        **extra,
    }


def flush_namespace(url: str, namespace: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{namespace}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()


@dataclass
class Workers:
    """Real Dramatiq worker threads in this process, on the broker the test chose."""

    settings: Settings
    broker: dramatiq.Broker
    worker: dramatiq.Worker | None = None

    def start(self, threads: int = 4) -> Workers:
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()
        return self

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=10_000)
            self.worker = None

    def drain(self, timeout: float = 20.0) -> None:
        """Wait until every queue (and its delay queue) is empty and the workers are idle."""
        deadline = time.monotonic() + timeout
        assert self.worker is not None
        while True:
            if self._pending() == 0:
                self.worker.join()  # the work in progress may enqueue more
                if self._pending() == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"queues not drained after {timeout}s")
            time.sleep(0.02)

    def _pending(self) -> int:
        pending = 0
        for q in sorted(self.broker.get_declared_queues()):
            if isinstance(self.broker, StubBroker):
                pending += self.broker.queues[q].qsize()
            else:
                pending += self.broker.do_qsize(q)
        return pending


def start_workers(settings: Settings, threads: int = 4) -> Workers:
    worker_slack.forget_caches()
    workers = composition.build(settings)
    composition.install(workers)
    return Workers(settings, workers.broker).start(threads)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _settings(db: TestDB, fake: FakeSlack, **extra: str) -> Settings:
    return load_settings(worker_env(db, fake, **extra))


@pytest.fixture
def stub_workers(db: TestDB, fake: FakeSlack) -> Iterator[Workers]:
    w = start_workers(_settings(db, fake))
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    namespace = f"crmtest-{uuid.uuid4().hex[:10]}"
    yield namespace
    flush_namespace(REDIS_URL, namespace)


@pytest.fixture
def redis_workers(db: TestDB, fake: FakeSlack, redis_namespace: str) -> Iterator[Workers]:
    w = start_workers(_settings(db, fake, REDIS_URL=REDIS_URL, CRM_REDIS_NAMESPACE=redis_namespace))
    try:
        yield w
    finally:
        w.stop()
        w.broker.close()


def posts(fake: FakeSlack, channel: str | None = None) -> list[Call]:
    return [c for c in fake.calls_to("chat.postMessage") if channel in (None, c.args["channel"])]


def answer_history_from_posts(fake: FakeSlack) -> None:
    """Let the fake answer ``conversations.history`` with the messages posted to it, metadata
    included, as Slack does for ``include_all_metadata``."""

    def history(call: Call) -> dict[str, Any]:
        channel = call.args.get("channel")
        messages = [
            {"ts": f"{i}.0", "text": c.args.get("text"), "metadata": c.args.get("metadata")}
            for i, c in enumerate(posts(fake, channel), 1)
        ]
        return {"ok": True, "messages": list(reversed(messages)), "has_more": False}

    fake.handlers["conversations.history"] = history


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            # .ci/setup installs it; a run without it must say so, not pass quietly
            pytest.fail("redis-server is not installed: run .ci/setup --services")
        self.binary = binary
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
