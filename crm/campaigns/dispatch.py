"""Sending a campaign (SPEC 6 "Sending semantics" and "Limits"), without Dramatiq: the worker
actor (:mod:`workers.campaigns`) calls :func:`run` and re-enqueues itself as told.

Exactly once, in batches:
1. **claim** (one transaction): up to ``CRM_CAMPAIGN_BATCH`` recipients that are ``pending``, or
   ``sending`` under a lease that expired (its worker died), get ``status='sending'``, a fresh
   lease id and ``claimed_at``; PostgreSQL skips rows another worker is claiming (``FOR
   UPDATE SKIP LOCKED``), SQLite serialises writers anyway. A campaign that is not
   ``sending`` (paused, cancelled, kill switch) yields nothing: sending stops within the batch
   in flight.
2. **send** over one connection (one SMTP session, one HTTP keep-alive connection), each
   message paced by the company's channel rate. A recipient is only marked sent after the
   provider accepted its message.
3. **record** (one transaction): sent, failed (with the provider's reason) and released
   (given back as ``pending``) recipients, guarded by the lease, and the campaign's counters.

The one case a channel cannot settle is a worker killed between 2 and 3: its rows keep their
lease until it expires, then are claimed again and flagged ``resent``; the message goes out
again with the same Message-ID (email) or Idempotency-Key (SMS), so the provider or the mail
client folds it, and the card counts it "resent after a crash". Per-batch recording trades
this window (at most one batch) for throughput: one commit per batch, not per message.

Retries: a 429/5xx/SMTP 4xx is retried in place with exponential backoff (honouring
``Retry-After``, at most 30 s) up to :data:`TRIES` times, then the recipient goes back to
``pending`` and the run asks to be retried later; after :data:`MAX_ATTEMPTS` claims it is
recorded as failed. A connection failure ends the batch (what was accepted is recorded, the
rest released), counts toward ``CRM_CAMPAIGN_MAX_FAILURES`` in a row, after which the campaign
pauses itself with the reason; Resume starts again where it stopped.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import JOIN, Case

from crm.acting import Actor
from crm.audit import change, snapshot
from crm.campaigns import messages, service, templates
from crm.campaigns.gateways import (
    Rejected,
    SendError,
    Temporary,
    Unreachable,
    mail_gateway,
    post_webhook,
    sms_gateway,
)
from crm.clock import utcnow
from crm.config import Settings
from crm.db import database, is_postgres
from crm.models import Campaign, CampaignRecipient, Company, Customer, CustomerMetric

log = logging.getLogger("crm.campaigns")

TRIES = 4  # sends of one message within a batch on temporary refusals
MAX_ATTEMPTS = 10  # claims of one recipient before it is recorded as failed
MAX_BACKOFF = 30.0

R = CampaignRecipient

# Rule 8 (tests/test_scoping.py): every query below is keyed by the campaign id of a message
# the scheduler or Send now enqueued, never by an id a client typed, and runs on the hot path
# of a send (a company filter on each would be a second index condition per statement and
# prove nothing more). The whole module says so once instead of marking each query.
CROSSES_COMPANIES = "the dispatch engine works on the one campaign its worker message names"


@dataclass
class Outcome:
    """What a run did and what the caller should do next: ``done`` (nothing left), ``more``
    (time is up, enqueue again now), ``retry`` (enqueue again after ``retry_in`` seconds),
    ``busy`` (other workers hold the rest; look again after the lease), ``stopped`` (the
    campaign is not sending)."""

    state: str = "done"
    sent: int = 0
    failed: int = 0
    released: int = 0
    retry_in: float = 0.0
    finished: bool = False  # this run moved the campaign to ``sent``
    reason: str | None = None


@dataclass
class Batch:
    lease: str
    rows: list[Any]
    sent: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


def backoff(n: int, retry_after: float | None = None) -> float:
    """Seconds before try ``n + 1`` (1, 2, 4, ... capped), or what the provider asked."""
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF)
    return min(2.0 ** max(n - 1, 0), MAX_BACKOFF)


# --- claim and record --------------------------------------------------------------------------


def _claimable(campaign_id: int, now: datetime, lease_seconds: float) -> Any:
    expired = now - timedelta(seconds=lease_seconds)
    return (R.campaign == campaign_id) & (
        (R.status == "pending") | ((R.status == "sending") & (R.claimed_at < expired))
    )


def claim(campaign_id: int, size: int, lease_seconds: float, now: datetime | None = None) -> Batch:
    """Claim up to ``size`` recipients of a ``sending`` campaign (empty batch otherwise)."""
    now = now or utcnow()
    lease = uuid.uuid4().hex
    with database.atomic():
        status = Campaign.select(Campaign.status).where(Campaign.id == campaign_id).scalar()
        if status != "sending":
            return Batch(lease, [])
        where = _claimable(campaign_id, now, lease_seconds)
        ids = R.select(R.id).where(where).order_by(R.id).limit(size)
        if is_postgres():
            ids = ids.for_update("FOR UPDATE SKIP LOCKED")
        # the ids first, then the UPDATE: PostgreSQL may evaluate a LIMIT subquery inside
        # UPDATE ... IN (...) more than once and claim more rows than asked
        ids = [rid for (rid,) in ids.tuples()]
        if not ids:
            return Batch(lease, [])
        R.update(
            status="sending",
            lease=lease,
            claimed_at=now,
            attempts=R.attempts + 1,
            resent=Case(None, [(R.status == "sending", True)], R.resent),
            updated_at=now,
        ).where(R.id.in_(ids) & where).execute()
    rows = list(
        R.select(
            R.id,
            R.token,
            R.resent,
            R.attempts,
            Customer.name,
            Customer.email,
            Customer.phone,
            Customer.company_name,
            Customer.industry,
            CustomerMetric.tier,
        )
        .join(Customer, on=Customer.id == R.customer)
        .switch(R)
        .join(CustomerMetric, JOIN.LEFT_OUTER, on=CustomerMetric.customer == R.customer)
        .where(R.lease == lease)
        .order_by(R.id)
        .dicts()
    )
    return Batch(lease, rows)


def record(campaign_id: int, batch: Batch, now: datetime | None = None) -> tuple[int, int]:
    """Record a batch's results in one transaction; returns (sent, failed) as counted (rows
    whose lease was taken over meanwhile are left to the worker that took them)."""
    now = now or utcnow()
    mine = R.lease == batch.lease
    with database.atomic():
        fresh = [i for i in batch.sent if i not in batch.resent]
        n_sent = n_resent = n_failed = 0
        if fresh:
            n_sent = (
                R.update(status="sent", sent_at=now, lease=None, error=None, updated_at=now)
                .where(R.id.in_(fresh) & mine)
                .execute()
            )
        if batch.resent:
            n_resent = (
                R.update(status="sent", sent_at=now, lease=None, error=None, updated_at=now)
                .where(R.id.in_(batch.resent) & mine)
                .execute()
            )
        by_reason: dict[str, list[int]] = {}
        for rid, reason in batch.failed.items():
            by_reason.setdefault(reason, []).append(rid)
        for reason, ids in by_reason.items():
            n_failed += (
                R.update(status="failed", error=reason[:500], lease=None, updated_at=now)
                .where(R.id.in_(ids) & mine)
                .execute()
            )
        if batch.released:
            R.update(status="pending", lease=None, claimed_at=None, updated_at=now).where(
                R.id.in_(batch.released) & mine
            ).execute()
        changes: dict[Any, Any] = {
            Campaign.sent_count: Campaign.sent_count + n_sent + n_resent,
            Campaign.resent_count: Campaign.resent_count + n_resent,
            Campaign.failed_count: Campaign.failed_count + n_failed,
            Campaign.dispatch_seen_at: now,
        }
        if n_sent + n_resent:
            changes[Campaign.connect_failures] = 0
        Campaign.update(changes).where(Campaign.id == campaign_id).execute()
    return n_sent + n_resent, n_failed


def finish_if_done(campaign_id: int, now: datetime | None = None) -> bool:
    """Move a ``sending`` campaign with nothing left to ``sent``; ``True`` for the one call
    that did (it reports the finish)."""
    now = now or utcnow()
    left = (
        R.select()
        .where((R.campaign == campaign_id) & R.status.in_(("pending", "sending")))
        .exists()
    )
    if left:
        return False
    return bool(
        Campaign.update(status="sent", finished_at=now, updated_at=now)
        .where((Campaign.id == campaign_id) & (Campaign.status == "sending"))
        .execute()
    )


def busy(campaign_id: int) -> bool:
    return R.select().where((R.campaign == campaign_id) & (R.status == "sending")).exists()


def connection_failed(campaign_id: int, reason: str, limit: int) -> tuple[int, bool]:
    """Count a connection failure; the ``limit``-th in a row pauses the campaign with the
    reason. Returns (failures in a row, paused now)."""
    with database.atomic():
        Campaign.update(connect_failures=Campaign.connect_failures + 1).where(
            Campaign.id == campaign_id
        ).execute()
        campaign = Campaign.get_by_id(campaign_id)
        if campaign.connect_failures < limit or campaign.status != "sending":
            return campaign.connect_failures, False
        actor = Actor.system(campaign.company_id, "worker")
        with change(actor) as ch:
            before = snapshot(campaign)
            campaign.status = "paused"
            campaign.paused_reason = (
                f"paused itself after {campaign.connect_failures} connection failures in a "
                f"row: {reason}; Resume continues where it stopped"
            )
            campaign.save()
            ch.updated(campaign, before, action="pause")
    log.warning("campaign M%s paused itself: %s", campaign_id, reason)
    return campaign.connect_failures, True


# --- sending -----------------------------------------------------------------------------------


def _fields(row: dict[str, Any], our_company: str) -> dict[str, str]:
    class _C:  # the row's customer columns, as templates.context reads them
        name = row.get("name")
        email = row.get("email")
        phone = row.get("phone")
        company_name = row.get("company_name")
        industry = row.get("industry")
        tier = row.get("tier")

    return templates.context(_C, our_company)


class _Sender:
    """Builds each recipient's message and hands it to the channel's session."""

    def __init__(self, campaign: Campaign, cfg: Settings, our_company: str) -> None:
        self.campaign = campaign
        self.cfg = cfg
        self.our_company = our_company
        if campaign.channel in ("email", "event"):
            self.gateway: Any = mail_gateway(cfg)
        else:
            self.gateway = sms_gateway(cfg)

    def session(self) -> Any:
        return self.gateway.session()

    def message(self, row: dict[str, Any]) -> Any:
        fields = _fields(row, self.our_company)
        if self.campaign.channel in ("email", "event"):
            return messages.email(
                self.campaign,
                fields,
                to=row["email"],
                raw_token=row["token"],
                public_url=self.cfg.public_url or "",
                mail_from=self.cfg.mail_from or "",
                domain=self.gateway.domain,
                sender=self.gateway.sender,
            )
        return messages.sms(
            self.campaign,
            fields,
            to=row["phone"],
            raw_token=row["token"],
            public_url=self.cfg.public_url or "",
        )


def renew(lease: str) -> set[int]:
    """Keep a batch's claim alive while it is still being sent (a slow provider or a tight
    rate must not let another worker take over rows that are on their way); returns the rows
    still under ``lease``. A row taken over meanwhile (renewed too late) is its new owner's
    to send: sending it here too would be a second copy without any crash."""
    renewed = R.update(claimed_at=utcnow()).where(R.lease == lease).returning(R.id).tuples()
    return {rid for (rid,) in renewed.execute()}


def _send_batch(
    sender: _Sender,
    batch: Batch,
    throttle: Callable[[], None],
    sleep: Callable[[float], None],
    lease_seconds: float | None = None,
) -> SendError | None:
    """Send a claimed batch over one session; returns the connection failure that ended it
    early, or the last temporary refusal that made recipients wait (``None``: all settled).
    The claim is renewed every third of ``lease_seconds`` while the batch is sent."""
    pending = list(batch.rows)
    trouble: SendError | None = None
    renewed = time.monotonic()
    try:
        with sender.session() as session:
            while pending:
                if lease_seconds and time.monotonic() - renewed > lease_seconds / 3:
                    held = renew(batch.lease)
                    pending = [r for r in pending if r["id"] in held]
                    renewed = time.monotonic()
                    if not pending:
                        break
                row = pending.pop(0)
                try:
                    message = sender.message(row)
                except Exception as exc:  # a template that fails for this customer's values
                    batch.failed[row["id"]] = f"could not render the message: {exc}"[:500]
                    continue
                for attempt in range(1, TRIES + 1):
                    throttle()
                    try:
                        session.send(message)
                    except Temporary as exc:
                        trouble = exc
                        if attempt == TRIES:
                            if row["attempts"] >= MAX_ATTEMPTS:
                                batch.failed[row["id"]] = f"gave up: {exc.reason}"
                            else:
                                batch.released.append(row["id"])
                            break
                        sleep(backoff(attempt, exc.retry_after))
                        continue
                    except Rejected as exc:
                        batch.failed[row["id"]] = exc.reason
                        break
                    batch.sent.append(row["id"])
                    if row["resent"]:
                        batch.resent.append(row["id"])
                    break
    except Unreachable as exc:
        # not sent: back to pending (this row, if mid-send, and every one not tried yet)
        settled = set(batch.sent) | set(batch.failed) | set(batch.released)
        batch.released.extend(r["id"] for r in batch.rows if r["id"] not in settled)
        return exc
    return trouble if batch.released else None


def _post_social(
    campaign: Campaign,
    cfg: Settings,
    lease_seconds: float,
    post_to_channel: Callable[[Campaign, str], str] | None,
) -> Outcome:
    """A social campaign is one post, claimed on the campaign row like a recipient."""
    now = utcnow()
    expired = now - timedelta(seconds=lease_seconds)
    lease = f"posting:{uuid.uuid4().hex}"
    won = (
        Campaign.update(post_ref=lease, dispatch_seen_at=now)
        .where(
            (Campaign.id == campaign.id)
            & (Campaign.status == "sending")
            & (
                Campaign.post_ref.is_null()
                | (Campaign.post_ref.startswith("posting:") & (Campaign.dispatch_seen_at < expired))
            )
        )
        .execute()
    )
    if not won:
        return Outcome("busy", retry_in=lease_seconds)
    company = Company.get_by_id(campaign.company_id)
    text = messages.social_text(campaign, company.name)
    target = service.social_target(campaign) or ""
    try:
        if target.startswith("https://"):
            post_webhook(target, text, timeout=cfg.campaign_send_timeout)
            ref = "webhook"
        else:
            if post_to_channel is None:
                raise Unreachable("posting to a Slack channel needs the worker's Slack gateway")
            ref = post_to_channel(campaign, text)
    except SendError as exc:
        Campaign.update(post_ref=None).where(Campaign.id == campaign.id).execute()
        if isinstance(exc, Rejected):
            Campaign.update(
                failed_count=1, status="sent", finished_at=utcnow(), paused_reason=exc.reason
            ).where((Campaign.id == campaign.id) & (Campaign.status == "sending")).execute()
            return Outcome("done", failed=1, finished=True, reason=exc.reason)
        if isinstance(exc, Unreachable):
            n, paused = connection_failed(campaign.id, exc.reason, cfg.campaign_max_failures)
            return Outcome("stopped" if paused else "retry", retry_in=backoff(n), reason=exc.reason)
        return Outcome("retry", retry_in=backoff(1, exc.retry_after), reason=exc.reason)
    finished = bool(
        Campaign.update(post_ref=ref[:255], sent_count=1, status="sent", finished_at=utcnow())
        .where((Campaign.id == campaign.id) & (Campaign.post_ref == lease))
        .execute()
    )
    return Outcome("done", sent=1, finished=finished)


def run(
    campaign_id: int,
    cfg: Settings,
    *,
    throttle: Callable[[], None] = lambda: None,
    budget_seconds: float = 30.0,
    post_to_channel: Callable[[Campaign, str], str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_batch: Callable[[], None] | None = None,
) -> Outcome:
    """Send batches of a campaign until nothing is left, the campaign stops, something asks
    for a retry later, or ``budget_seconds`` are spent (the message then re-enqueues itself,
    so a long campaign never hogs a worker thread and pause/cancel are read between batches).
    ``throttle()`` is called before each message (the company's channel rate); ``on_batch()``
    after each batch is recorded (the live card's progress; it must not raise)."""
    campaign = Campaign.get_or_none(Campaign.id == campaign_id)
    if campaign is None or campaign.status != "sending":
        return Outcome("stopped")
    if campaign.channel == "social":
        return _post_social(campaign, cfg, cfg.campaign_lease, post_to_channel)
    company = Company.get_by_id(campaign.company_id)
    try:
        sender = _Sender(campaign, cfg, company.name)
    except Unreachable as exc:
        n, paused = connection_failed(campaign_id, exc.reason, cfg.campaign_max_failures)
        return Outcome("stopped" if paused else "retry", retry_in=backoff(n), reason=exc.reason)
    outcome = Outcome("more")
    started = time.monotonic()
    while True:
        batch = claim(campaign_id, cfg.campaign_batch, cfg.campaign_lease)
        if not batch.rows:
            fresh = Campaign.get_by_id(campaign_id)
            if fresh.status != "sending":
                outcome.state = "stopped"
            elif finish_if_done(campaign_id):
                outcome.state, outcome.finished = "done", True
            elif busy(campaign_id):
                outcome.state, outcome.retry_in = "busy", cfg.campaign_lease
            else:
                outcome.state = "done"
            return outcome
        trouble = _send_batch(sender, batch, throttle, sleep, cfg.campaign_lease)
        sent, failed = record(campaign_id, batch)
        outcome.sent += sent
        outcome.failed += failed
        outcome.released += len(batch.released)
        if on_batch is not None:
            on_batch()
        if isinstance(trouble, Unreachable):
            n, paused = connection_failed(campaign_id, trouble.reason, cfg.campaign_max_failures)
            outcome.state = "stopped" if paused else "retry"
            outcome.retry_in, outcome.reason = backoff(n), trouble.reason
            return outcome
        if trouble is not None:
            outcome.state, outcome.reason = "retry", trouble.reason
            outcome.retry_in = backoff(TRIES, trouble.retry_after)
            return outcome
        if time.monotonic() - started >= budget_seconds:
            return outcome


def stalled(lease_seconds: float, now: datetime | None = None, limit: int = 100) -> list[int]:
    """``sending`` campaigns never dispatched yet (just started) or that nobody has worked on
    for a lease (a lost message, a dead worker): each is claimed for one enqueue by a
    conditional UPDATE of its heartbeat, so two scanners enqueue it once."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=lease_seconds)
    found = list(
        Campaign.select(Campaign.id, Campaign.dispatch_seen_at)
        .where(
            (Campaign.status == "sending")
            & (Campaign.dispatch_seen_at.is_null() | (Campaign.dispatch_seen_at < cutoff))
        )
        .limit(limit)
        .tuples()
    )
    claimed = []
    for cid, seen in found:
        same = (
            Campaign.dispatch_seen_at.is_null()
            if seen is None
            else (Campaign.dispatch_seen_at == seen)
        )
        if Campaign.update(dispatch_seen_at=now).where((Campaign.id == cid) & same).execute():
            claimed.append(cid)
    return claimed
