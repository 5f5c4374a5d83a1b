"""A synthetic lead history in which source and priority truly drive wins, for the lead-score
tests: each lead's chance of being won is a logistic function of its source and priority, and
every other field is noise."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from crm.models import Communication, Lead, Member

SOURCE_EFFECT = {"referral": 1.6, "partner": 1.0, "website": 0.0, "event": 0.0,
                 "social": -0.6, "cold_call": -1.8}  # fmt: skip
PRIORITY_EFFECT = {"high": 1.4, "medium": 0.0, "low": -1.4}


def win_chance(source: str, priority: str) -> float:
    return 1 / (1 + math.exp(-(SOURCE_EFFECT[source] + PRIORITY_EFFECT[priority] - 0.3)))


def make_history(
    company_id: int, members: list[Member], closed: int, open_: int, seed: int = 7
) -> dict[int, bool]:
    """``closed`` won/lost leads and ``open_`` open ones; returns each open lead's outcome as
    the same process would decide it (what the score should predict)."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 9, 0)
    hidden: dict[int, bool] = {}
    comms = []
    for n in range(closed + open_):
        source = rng.choice(list(SOURCE_EFFECT))
        priority = rng.choice(list(PRIORITY_EFFECT))
        won = rng.random() < win_chance(source, priority)
        is_open = n >= closed
        created = start + timedelta(hours=7 * n)
        lead = Lead.create(
            company=company_id,
            name=f"Lead {n}",
            email=f"lead{n}@example.com" if rng.random() < 0.6 else None,
            phone="+260971234567" if rng.random() < 0.4 else None,
            company_name=rng.choice(["Zamtel", "Mopani", "Zambeef", None]),
            source=source,
            priority=priority,
            estimated_value=rng.choice([None, 1000, 12000, 50000]),
            assigned_to=rng.choice(members).id,
            status="qualified" if is_open else ("won" if won else "lost"),
            lost_reason=None if is_open or won else "price",
            created_at=created,
        )
        if is_open:
            hidden[lead.id] = won
        for k in range(rng.randrange(4)):
            comms.append({
                "company": company_id, "communicable_type": "lead", "communicable_id": lead.id,
                "type": "call", "communicated_at": created + timedelta(days=rng.randrange(10) + k),
            })  # fmt: skip
    if comms:
        Communication.insert_many(comms).execute()
    return hidden


def auc(scores: list[float], outcomes: list[bool]) -> float:
    """The probability that a won lead outscores a lost one (ties count half)."""
    wins = [s for s, o in zip(scores, outcomes, strict=True) if o]
    losses = [s for s, o in zip(scores, outcomes, strict=True) if not o]
    pairs = sum((w > lo) + 0.5 * (w == lo) for w in wins for lo in losses)
    return pairs / (len(wins) * len(losses))
