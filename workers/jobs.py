"""Dead letters, for an operator: ``crm jobs failed`` lists them, ``crm jobs retry`` re-enqueues.

A message lands in Dramatiq's dead-letter queue when its actor ran out of retries. With the
Redis broker that queue lives in Redis for seven days (``<ns>:<queue>.XQ``, a sorted set of
message ids by time of death, with the messages in ``<ns>:<queue>.XQ.msgs``), and this module
reads it directly: Dramatiq has no listing API of its own. The error that killed a message is
kept beside it by :class:`workers.middleware.DeadLetterNotes`. Retrying re-enqueues the message
with its retry count reset and removes it from the dead letters.

In embedded mode (no Redis) dead letters live in the process's memory only; nothing is lost
by that, because the scans re-find in the database whatever is still due.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from workers.middleware import dead_note_key

__all__ = ["DeadLetter", "failed_jobs", "retry_jobs"]


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the Redis message id (what ``crm jobs retry`` takes)
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


def _queues(broker: RedisBroker) -> list[str]:
    """Every queue with dead letters: the declared ones and any others found in Redis."""
    names = {q for q in broker.get_declared_queues() if not q.endswith(".DQ")}
    prefix = f"{broker.namespace}:"
    for key in broker.client.scan_iter(f"{prefix}*.XQ", count=500):
        name = key.decode() if isinstance(key, bytes) else key
        names.add(name[len(prefix) : -len(".XQ")])
    return sorted(names)


def failed_jobs(
    broker: dramatiq.Broker, *, queue: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """The most recent dead letters first."""
    if not isinstance(broker, RedisBroker):
        return []
    found: list[DeadLetter] = []
    for name in [queue] if queue else _queues(broker):
        xq = f"{broker.namespace}:{name}.XQ"
        entries = broker.client.zrevrange(xq, 0, limit - 1, withscores=True)
        if not entries:
            continue
        ids = [i.decode() if isinstance(i, bytes) else i for i, _ in entries]
        payloads = broker.client.hmget(f"{xq}.msgs", ids)
        notes = broker.client.mget([dead_note_key(broker.namespace, i) for i in ids])
        for rid, (_, score), data, raw_note in zip(ids, entries, payloads, notes, strict=True):
            if data is None:
                continue
            message = dramatiq.Message.decode(data)
            note = json.loads(raw_note) if raw_note else {}
            found.append(
                DeadLetter(
                    id=rid,
                    queue=name,
                    actor=message.actor_name,
                    args=tuple(message.args),
                    kwargs=dict(message.kwargs),
                    message_id=message.message_id,
                    failed_at=datetime.fromtimestamp(score / 1000, UTC).replace(tzinfo=None),
                    retries=int(note.get("retries", message.options.get("retries", 0))),
                    error=str(note.get("error") or ""),
                )
            )
    found.sort(key=lambda d: d.failed_at, reverse=True)
    return found[:limit]


def retry_jobs(broker: dramatiq.Broker, ids: list[str] | None = None) -> int:
    """Re-enqueue the dead letters with these Redis ids (all of them with ``None``)."""
    if not isinstance(broker, RedisBroker):
        return 0
    wanted = set(ids) if ids is not None else None
    retried = 0
    for dead in failed_jobs(broker, limit=100_000):
        if wanted is not None and dead.id not in wanted:
            continue
        xq = f"{broker.namespace}:{dead.queue}.XQ"
        data = broker.client.hget(f"{xq}.msgs", dead.id)
        if data is None:
            continue
        old = dramatiq.Message.decode(data)
        options = {
            k: v
            for k, v in old.options.items()
            if k not in ("retries", "traceback", "redis_message_id", "eta", "requeue_timestamp")
        }
        broker.enqueue(
            dramatiq.Message(
                queue_name=dead.queue,
                actor_name=old.actor_name,
                args=old.args,
                kwargs=old.kwargs,
                options=options,
                message_id=old.message_id,
                message_timestamp=old.message_timestamp,
            )
        )
        pipe = broker.client.pipeline()
        pipe.zrem(xq, dead.id)
        pipe.hdel(f"{xq}.msgs", dead.id)
        pipe.delete(dead_note_key(broker.namespace, dead.id))
        pipe.execute()
        retried += 1
    return retried
