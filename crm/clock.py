"""One source of "now" so that tests can move time (time-machine patches ``datetime.now``).

Storage convention: every timestamp in the database is a naive datetime in UTC. Time zones
appear only at the edges (parsing what a member typed, rendering for a member).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Naive UTC now, the form every DateTimeField stores."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def to_utc(moment: datetime) -> datetime:
    """Aware datetime -> naive UTC; a naive one is assumed to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_local(moment: datetime, tz: str) -> datetime:
    """Naive UTC -> aware local time in the IANA zone ``tz``."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
