"""Reminders and daily digests for the member at a ``crm chat`` terminal (SPEC 5.5).

While a session is open, every ``CRM_SCAN_INTERVAL`` seconds the terminal asks
:mod:`crm.reminders` and :mod:`crm.digests` (where the rules live: who is due, waking
hours, once per occasion) what would be sent to this member now, and "sends" it through the
session's local client: it is printed, with its buttons numbered, and recorded as sent like
a DM, so the member does not get it twice. Only this member's; the workers keep sending
everybody else's.

Why not the workers' actors: they take their Slack client from the workspace's bot token and
run on a Dramatiq broker; a terminal has neither, and the claim → post → record steps are
the few lines below.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from bot import background
from bot.blocks.followups import (
    daily_digest_blocks,
    daily_digest_text,
    reminder_blocks,
    reminder_text,
)
from crm import digests, reminders
from crm.clock import utcnow
from crm.followups import mark_overdue
from crm.tenancy import ref_label

log = logging.getLogger(__name__)


class MemberJobs:
    """The scan for one member; :meth:`start` runs it in the background until :meth:`stop`."""

    def __init__(self, session: Any, interval: float) -> None:
        self.session = session
        self.member = session.member
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chat-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a failed scan is retried by the next one
                log.exception("chat: reminder scan failed")
            finally:
                background.release_connection()

    def tick(self, now: datetime | None = None) -> int:
        """Print what is due for this member at ``now``; returns how many messages."""
        at = now or utcnow()
        mark_overdue(at)
        sent = 0
        for due in reminders.due_reminders(at, company_id=self.member.company_id):
            if due.member_id == self.member.id:
                sent += self._remind(due.follow_up_id, at)
        for occasion in digests.members_due_daily_digest(at):
            if occasion.member_id == self.member.id:
                sent += self._digest(occasion, at)
        return sent

    def _remind(self, follow_up_id: int, at: datetime) -> int:
        claim = reminders.claim_reminder(follow_up_id, at)
        if claim is None:
            return 0
        try:
            fu = claim.follow_up
            label = ref_label(fu.followable_type, fu.followable_id)
            subject = f"{label} {claim.subject_name}" if claim.subject_name else label
            response = self.session.client.chat_postMessage(
                channel=self.session.dm,
                text=reminder_text(fu.id, fu.title),
                blocks=reminder_blocks(
                    follow_up_id=fu.id,
                    title=fu.title,
                    due_at=fu.due_at,
                    subject=subject,
                    priority=fu.priority,
                    notes=fu.notes,
                    permalink=fu.permalink,
                    reminder_number=fu.reminder_count + 1,
                ),
            )
        except BaseException:
            reminders.release_claim(claim)
            raise
        reminders.record_sent(claim, response["channel"], response["ts"])
        return 1

    def _digest(self, occasion: Any, at: datetime) -> int:
        claimed_at = digests.claim_occasion(occasion.company_id, occasion.key, at)
        if claimed_at is None:
            return 0
        try:
            digest = digests.daily_digest(self.member.id, at)
            if digest is not None:
                self.session.client.chat_postMessage(
                    channel=self.session.dm,
                    text=daily_digest_text(digest),
                    blocks=daily_digest_blocks(digest),
                )
        except BaseException:
            digests.release_occasion(occasion.company_id, occasion.key, claimed_at)
            raise
        digests.finish_occasion(occasion.company_id, occasion.key, claimed_at)
        return int(digest is not None)
