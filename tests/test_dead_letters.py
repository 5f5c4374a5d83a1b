"""Dead letters kept by our own middleware (workers.jobs.DeadLetters) on a real Redis, in a
private namespace: what ``crm jobs failed`` lists and ``crm jobs retry`` re-enqueues, without
reading Dramatiq's private key layout. (The whole path through worker processes and the CLI
is tests/test_workers_e2e.py::test_crm_jobs_failed_lists_dead_letters_and_retry_requeues_them.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest
import redis
import time_machine
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker

from tests.workers_support import REDIS_URL, flush_namespace
from workers.jobs import DEAD_LETTER_TTL, DeadLetters, failed_jobs, retry_jobs


@pytest.fixture
def keeper() -> Iterator[tuple[RedisBroker, DeadLetters]]:
    namespace = f"crmtest-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    dead = DeadLetters(client, namespace)
    broker = RedisBroker(client=client, namespace=f"{namespace}:dramatiq", middleware=[dead])
    try:
        yield broker, dead
    finally:
        broker.close()
        flush_namespace(REDIS_URL, namespace)


def _message(queue: str = "metrics", **kwargs: Any) -> MessageProxy:
    """A message as middleware sees it while a worker runs it."""
    return MessageProxy(
        dramatiq.Message(
            queue_name=queue,
            actor_name="scan_new_orders",
            args=(),
            kwargs=kwargs,
            options={"retries": 5, "redis_message_id": "r-1"},
        )
    )


def _boom() -> ValueError:
    try:
        raise ValueError("not a time: 'soon'")
    except ValueError as exc:
        return exc


def test_a_failed_message_is_kept_with_its_error_and_retried_afresh(keeper: Any) -> None:
    broker, dead = keeper
    broker.declare_queue("metrics")
    message = _message(now="soon")
    message.fail()
    dead.after_process_message(broker, message, exception=_boom())

    ok = _message(now="later")  # processed fine: not dead
    dead.after_process_message(broker, ok, result=None)
    retried = _message(now="later")  # raised, but Retries will run it again: not dead yet
    dead.after_process_message(broker, retried, exception=_boom())

    [letter] = failed_jobs(broker)
    assert (letter.id, letter.actor, letter.queue, letter.kwargs, letter.retries) == (
        message.message_id,
        "scan_new_orders",
        "metrics",
        {"now": "soon"},
        5,
    )
    assert letter.short_error == "ValueError: not a time: 'soon'"
    assert failed_jobs(broker, queue="reminders") == []

    assert retry_jobs(broker, ["no-such-id"]) == 0
    assert retry_jobs(broker, [letter.id]) == 1
    assert failed_jobs(broker) == []
    consumer = broker.consume("metrics", prefetch=1, timeout=1000)
    again = next(consumer)
    consumer.close()
    assert (again.message_id, again.kwargs) == (message.message_id, {"now": "soon"})
    assert "retries" not in again.options  # a retry starts with all its tries again


def test_a_skipped_failed_message_is_dead_too_and_the_newest_comes_first(keeper: Any) -> None:
    broker, dead = keeper
    first, second = _message(n=1), _message(queue="reminders", n=2)
    first.fail()
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        dead.after_process_message(broker, first, exception=_boom())
    second.fail()
    with time_machine.travel(datetime(2026, 3, 2, 9, 1, tzinfo=UTC), tick=False):
        dead.after_skip_message(broker, second)  # AgeLimit fails and skips a too-old message
    found = failed_jobs(broker)
    assert [d.kwargs for d in found] == [{"n": 2}, {"n": 1}]
    assert "refused before it ran" in found[0].error
    assert [d.kwargs for d in failed_jobs(broker, limit=1)] == [{"n": 2}]
    assert found[0].failed_at == datetime(2026, 3, 2, 9, 1)
    assert retry_jobs(broker, None) == 2 and failed_jobs(broker) == []


def test_letters_older_than_the_ttl_are_dropped_on_the_next_death(keeper: Any) -> None:
    broker, dead = keeper
    old = _message(n="old")
    old.fail()
    dead.after_process_message(broker, old, exception=_boom())
    index = f"{dead.namespace}:dead"
    dead.client.zadd(index, {old.message_id: int(time.time() * 1000) - DEAD_LETTER_TTL * 1000 - 1})
    new = _message(n="new")
    new.fail()
    dead.after_process_message(broker, new, exception=_boom())
    assert [d.kwargs for d in failed_jobs(broker)] == [{"n": "new"}]
    assert dead.client.hexists(f"{index}:letters", old.message_id) == 0


def test_redis_down_costs_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    dead = DeadLetters(client, "crmtest-down")
    message = _message()
    message.fail()
    dead.after_process_message(None, message, exception=_boom())  # never raises
    assert f"could not keep dead message {message.message_id}" in caplog.text


def test_without_redis_nothing_is_kept() -> None:
    from dramatiq.brokers.stub import StubBroker

    broker = StubBroker()
    assert failed_jobs(broker) == [] and retry_jobs(broker) == 0
