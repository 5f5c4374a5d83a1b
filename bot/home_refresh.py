"""Keeping App Home current (SPEC 5.2: "refreshed when the member opens it and after their
changes").

- :func:`publish` gathers the member's Home from the services and ``views.publish``-es it;
  the ``app_home_opened`` listener calls it.
- :func:`refresh` does the same in the background (:mod:`bot.background`) after a write;
  refreshes for one member coalesce: while one is queued and not started, another is not
  queued (a burst of writes publishes once, after the last one it saw started).
- :func:`after_reply` is the hook of the ``/crm`` dispatcher: a reply that is a receipt (it
  carries an Undo button) means the member changed something, so their Home is refreshed.
  Modal submissions and record buttons call :func:`refresh` themselves.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_sdk import WebClient

from bot import background
from bot.blocks.common import UNDO_ACTION
from bot.blocks.home import MAX_FOLLOW_UPS, MAX_OPPORTUNITIES, HomeData, home_view
from crm import analytics, followups, opportunities, permissions
from crm.actors import Actor
from crm.clock import utcnow
from crm.models import Company, FollowUp

log = logging.getLogger(__name__)

_pending: set[tuple[int, str]] = set()
_lock = threading.Lock()


def gather(actor: Actor) -> HomeData:
    """The member's Home, in a fixed number of queries (each list is one, capped)."""
    now = utcnow()
    company = Company.get_by_id(actor.company_id)
    overdue = followups.list_follow_ups(actor, only="overdue", limit=MAX_FOLLOW_UPS + 1, now=now)
    upcoming: list[FollowUp] = []
    if len(overdue) <= MAX_FOLLOW_UPS:
        # open ones come overdue first, then by due time: skip the overdue ones just read
        upcoming = followups.list_follow_ups(
            actor, only="open", offset=len(overdue), limit=MAX_FOLLOW_UPS + 1, now=now
        )
        upcoming = [f for f in upcoming if followups.effective_status(f, now) == "pending"]
    opps = opportunities.list_opportunities(
        actor, assigned_to_id=actor.member_id, open_only=True, limit=MAX_OPPORTUNITIES + 1
    )
    team = None
    if permissions.has(actor, "team_analytics"):
        team = analytics.pipeline_summary(actor, team=True, now=now)
    return HomeData(
        overdue=overdue,
        upcoming=upcoming,
        opportunities=opps,
        mine=analytics.pipeline_summary(actor, now=now),
        team=team,
        currency=company.currency,
        now=now,
    )


def publish(client: WebClient, actor: Actor, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=home_view(gather(actor)))


def refresh(client: WebClient, actor: Actor, user_id: str) -> None:
    """Re-publish the member's Home soon, off the request thread; never raises."""
    key = (actor.company_id, user_id)
    with _lock:
        if key in _pending or not user_id:
            return
        _pending.add(key)

    def run() -> None:
        with _lock:
            _pending.discard(key)
        try:
            publish(client, actor, user_id)
        except Exception:
            log.exception("could not refresh App Home of %s", user_id)

    background.submit(run)


def is_receipt(reply: dict[str, Any] | None) -> bool:
    """A reply carrying an Undo button answers a write."""
    for block in (reply or {}).get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == UNDO_ACTION:
                return True
    return False


def after_reply(client: WebClient, actor: Actor, user_id: str, reply: Any) -> None:
    """The ``/crm`` dispatcher's hook: refresh Home when the answer was a receipt."""
    if isinstance(reply, dict) and is_receipt(reply):
        refresh(client, actor, user_id)
