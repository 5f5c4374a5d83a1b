"""Keeping App Home current (SPEC 5.2: "refreshed when the member opens it and after their
changes").

- :func:`publish` gathers the member's Home from the services and ``views.publish``-es it;
  the ``app_home_opened`` listener calls it.
- :func:`refresh` does the same in the background (:mod:`bot.background`) after a write;
  refreshes for one member coalesce: while one is queued and not started, another is not
  queued, and a member's Home is published at most once per ``CRM_HOME_REFRESH_INTERVAL``
  seconds (default 5): a write soon after a publish is drawn by one more publish when the
  interval is over. A rep logging five calls in a minute gets a current Home without five
  full redraws (each is five queries and a ``views.publish``, about a third of what a
  ``/crm lead add`` costs the web process, measured by ``bench/ack.py``; Slack also limits
  ``views.publish`` per workspace). Opening the Home tab publishes at once, calling off a
  publish that waits.
- :func:`after_reply` is the hook of the ``/crm`` dispatcher: a reply that is a receipt (it
  carries an Undo button) means the member changed something, so their Home is refreshed.
  Modal submissions and record buttons call :func:`refresh` themselves.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot import background
from bot.blocks.common import UNDO_ACTION
from bot.blocks.home import MAX_FOLLOW_UPS, MAX_OPPORTUNITIES, HomeData, home_view
from crm import analytics, followups, opportunities, permissions, runtime
from crm.acting import Actor
from crm.clock import utcnow
from crm.models import Company, FollowUp

log = logging.getLogger(__name__)

_pending: set[tuple[int, str]] = set()
_last: dict[tuple[int, str], float] = {}  # monotonic time each member's last publish started
_waiting: dict[tuple[int, str], _Delayed] = {}  # publishes held back for the interval
_lock = threading.Lock()
DEFAULT_INTERVAL = 5.0  # CRM_HOME_REFRESH_INTERVAL's default (crm/config.py), for the benches


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


def refresh(client: WebClient, actor: Actor, user_id: str, *, at_once: bool = False) -> None:
    """Re-publish the member's Home soon, off the request thread; never raises.

    ``at_once`` (the member is opening the tab) skips, or cuts short, the wait for the
    interval.
    """
    if not user_id:
        return
    key = (actor.company_id, user_id)
    interval = runtime.current().settings.home_refresh_interval  # 0: after every write

    def run() -> None:
        with _lock:
            _pending.discard(key)
            _waiting.pop(key, None)
            _last[key] = time.monotonic()
        try:
            publish(client, actor, user_id)
        except Exception:
            log.exception("could not refresh App Home of %s", user_id)

    timer = None
    with _lock:
        waiting = _waiting.get(key)
        if waiting is not None and at_once and waiting.cancel_if_waiting():
            pass  # its timer is stopped: publish now instead
        elif key in _pending:
            return
        _pending.add(key)
        now = time.monotonic()
        wait = 0.0 if at_once else _last.get(key, -interval) + interval - now
        if len(_last) > 4096:  # forget members not published within the interval
            for old_key in [k for k, t in _last.items() if now - t > interval]:
                del _last[old_key]
        if wait > 0:
            timer = _waiting[key] = _Delayed(wait, run)
    if timer is not None:
        timer.start()
    else:
        with contextlib.suppress(RuntimeError):  # the process is exiting: redrawn when opened
            background.submit(run)


class _Delayed:
    """A publish held back until the member's interval is over; it can be called off while
    it still waits (the member opened Home: it is published at once instead)."""

    def __init__(self, wait: float, run: Callable[[], None]) -> None:
        self._run = run
        self._state_lock = threading.Lock()
        self._submitted = False
        self._timer = threading.Timer(wait, self._fire)
        self._timer.daemon = True  # a Home lost to a shutdown is redrawn when next opened

    def start(self) -> None:
        self._timer.start()

    def _fire(self) -> None:
        with self._state_lock:
            if self._submitted:
                return
            self._submitted = True
        with contextlib.suppress(RuntimeError):  # the pool has shut down: redrawn when opened
            background.submit(self._run)

    def cancel_if_waiting(self) -> bool:
        with self._state_lock:
            if self._submitted:
                return False
            self._submitted = True
        self._timer.cancel()
        return True


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
