"""Dead letters, for an operator: ``crm jobs failed`` lists them, ``crm jobs retry`` re-enqueues.

A message is dead when its actor ran out of retries (or was refused before running, as
``AgeLimit`` does). :class:`DeadLetters`, a Dramatiq middleware, keeps each one itself at that
moment, with the error that killed it, in Redis keys of the product's own
(``<CRM_REDIS_NAMESPACE>:dead``: a sorted set of message ids by time of death, and
``...:dead:letters``: the message and its error by id), for :data:`DEAD_LETTER_TTL`.

Why our own keys and not Dramatiq's dead-letter queue: Dramatiq offers no API to list or
retry its dead letters, only a private Redis key layout (``<queue>.XQ`` and ``.XQ.msgs``)
that may change with any release; the middleware hooks (``after_process_message``,
``after_skip_message`` with ``message.failed``) are its public interface. Dramatiq's own copy
still expires by itself.

In embedded mode (no Redis) nothing is kept; nothing is lost by that, because the scans
re-find in the database whatever is still due.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
import redis
from dramatiq.common import q_name
from dramatiq.middleware import Middleware

__all__ = ["DEAD_LETTER_TTL", "DeadLetter", "DeadLetters", "failed_jobs", "retry_jobs"]

log = logging.getLogger("crm.workers")

DEAD_LETTER_TTL = 7 * 86400  # seconds, as long as Dramatiq keeps its own dead letters
_MAX_ERROR = 4000
# options that describe a past delivery, not the job: a retried message starts afresh
_DELIVERY_OPTIONS = ("retries", "traceback", "redis_message_id", "eta", "requeue_timestamp")


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the message id (what ``crm jobs retry`` takes)
    queue: str
    actor: str
    args: tuple
    kwargs: dict
    message_id: str
    failed_at: datetime
    retries: int
    error: str

    @property
    def short_error(self) -> str:
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


def _keys(namespace: str) -> tuple[str, str]:
    return f"{namespace}:dead", f"{namespace}:dead:letters"


class DeadLetters(Middleware):
    """Keeps every dead message with its error (see the module docstring). Runs after
    ``Retries``, which marks a message failed when its retries are exhausted."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if message.failed:
            self.keep(message, exception)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        if message.failed:
            self.keep(message, None)

    def keep(self, message: Any, exception: BaseException | None) -> None:
        """Keep ``message`` (a worker's message proxy) as dead, with what killed it."""
        error = (
            "".join(traceback.format_exception(exception))[-_MAX_ERROR:]
            if exception is not None
            else "refused before it ran (too old, or failed by a middleware)"
        )
        now_ms = int(time.time() * 1000)
        letter = {
            "message": message.encode().decode("utf-8"),
            "queue": q_name(message.queue_name),
            "error": error,
            "retries": message.options.get("retries", 0),
            "failed_at_ms": now_ms,
        }
        index, letters = _keys(self.namespace)
        try:
            expired = self.client.zrangebyscore(index, "-inf", now_ms - DEAD_LETTER_TTL * 1000)
            pipe = self.client.pipeline()
            pipe.zadd(index, {message.message_id: now_ms})
            pipe.hset(letters, message.message_id, json.dumps(letter))
            if expired:
                pipe.zrem(index, *expired)
                pipe.hdel(letters, *expired)
            pipe.execute()
        except redis.RedisError as exc:  # the message is dead either way; say so once
            log.warning("could not keep dead message %s: %s", message.message_id, exc)


def _keeper(broker: dramatiq.Broker) -> DeadLetters | None:
    return next((m for m in broker.middleware if isinstance(m, DeadLetters)), None)


def _letters(keeper: DeadLetters, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    _, letters = _keys(keeper.namespace)
    raw = keeper.client.hmget(letters, ids) if ids else []
    return [(i, json.loads(r)) for i, r in zip(ids, raw, strict=True) if r is not None]


def failed_jobs(
    broker: dramatiq.Broker, *, queue: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """The most recent dead letters first (of one ``queue`` if given)."""
    keeper = _keeper(broker)
    if keeper is None:
        return []
    index, _ = _keys(keeper.namespace)
    ids = [i.decode() if isinstance(i, bytes) else i for i in keeper.client.zrevrange(index, 0, -1)]
    found: list[DeadLetter] = []
    for rid, letter in _letters(keeper, ids):
        if queue is not None and letter["queue"] != queue:
            continue
        message = dramatiq.Message.decode(letter["message"].encode("utf-8"))
        found.append(
            DeadLetter(
                id=rid,
                queue=letter["queue"],
                actor=message.actor_name,
                args=tuple(message.args),
                kwargs=dict(message.kwargs),
                message_id=message.message_id,
                failed_at=datetime.fromtimestamp(letter["failed_at_ms"] / 1000, UTC).replace(
                    tzinfo=None
                ),
                retries=int(letter["retries"]),
                error=str(letter["error"]),
            )
        )
        if len(found) == limit:
            break
    return found


def retry_jobs(broker: dramatiq.Broker, ids: list[str] | None = None) -> int:
    """Re-enqueue the dead letters with these ids (all of them with ``None``), with their
    retry count reset, and forget them as dead."""
    keeper = _keeper(broker)
    if keeper is None:
        return 0
    index, letters = _keys(keeper.namespace)
    if ids is None:
        ids = [
            i.decode() if isinstance(i, bytes) else i for i in keeper.client.zrange(index, 0, -1)
        ]
    retried = 0
    for rid, letter in _letters(keeper, list(dict.fromkeys(ids))):
        old = dramatiq.Message.decode(letter["message"].encode("utf-8"))
        options = {k: v for k, v in old.options.items() if k not in _DELIVERY_OPTIONS}
        broker.enqueue(
            dramatiq.Message(
                queue_name=letter["queue"],
                actor_name=old.actor_name,
                args=old.args,
                kwargs=old.kwargs,
                options=options,
                message_id=old.message_id,
                message_timestamp=old.message_timestamp,
            )
        )
        pipe = keeper.client.pipeline()
        pipe.zrem(index, rid)
        pipe.hdel(letters, rid)
        pipe.execute()
        retried += 1
    return retried
