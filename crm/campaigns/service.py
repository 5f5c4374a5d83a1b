"""Campaign use cases (SPEC 6): create, change, preview, schedule, send now, pause, resume,
cancel and the kill switch, shared by Slack, the JSON API and the workers.

State machine (every move is a conditional UPDATE or a locked row, audited in the same
transaction; a move from the wrong state is a :class:`~crm.errors.Conflict` naming the state):

    draft ──schedule──> scheduled ──(due: scheduler)──> sending ──(all done)──> sent
      │                   │  ↑                            │  ↑
      └──send now─────────┴──┼───────> sending            pause│resume (also: the kill switch,
                             └─resume (not started yet)   ↓  │ and the dispatcher itself after
    draft|scheduled|sending|paused ──cancel──> cancelled   paused  repeated connection failures)

Who: managers and admins run campaigns (``manage_campaigns``), API tokens too; reps read them.
Decisions where the spec is silent:
- the audience must have at least one reachable customer when a campaign is created, scheduled
  or started ("empty audience" names the segment or the list);
- a campaign can be changed while ``draft`` or ``scheduled`` only; once it started its
  recipients are fixed;
- the kill switch (:func:`pause_all`) pauses the workspace's ``sending`` *and* ``scheduled``
  campaigns, each with the reason and who pulled it; each is resumed on its own;
- resuming a campaign that never started puts it back to ``scheduled`` (or starts it if its
  time has passed);
- social campaigns post once to one Slack channel or incoming webhook; they have no per-customer
  audience (their card counts one post);
- webhook URLs are stored encrypted with ``CRM_SECRET_KEY`` (SPEC 10).

Starting a campaign does not import Dramatiq (``crm`` never does): a process that has the
workers at hand (``crm serve``) installs a runtime whose ``notify_campaign`` enqueues the
dispatch at once (:mod:`crm.runtime`); otherwise the scheduler's campaign scan (every ``CRM_CAMPAIGN_SCAN_INTERVAL``
seconds) finds the campaign, never dispatched yet, on its next pass.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlparse

from crm import encryption, permissions, runtime, tenancy
from crm.acting import Actor
from crm.audit import change, snapshot
from crm.campaigns import audience, templates, tokens
from crm.clock import utcnow
from crm.config import Settings
from crm.db import database
from crm.errors import Conflict, NotFound, ValidationError
from crm.leads import clean_text
from crm.models import (
    CAMPAIGN_CHANNELS,
    CAMPAIGN_STATUSES,
    Campaign,
    Company,
    Customer,
    CustomerMetric,
    CustomerSegment,
)
from crm.parsing import parse_choice, parse_datetime, parse_int, parse_money

log = logging.getLogger("crm.campaigns")

GOAL_TYPES = ("conversions", "revenue")
MAX_CUSTOM = 10_000
CAMPAIGN_FIELDS: Final = (
    "name",
    "channel",
    "segment_id",
    "customer_ids",
    "subject",
    "body",
    "scheduled_at",
    "budget",
    "cost",
    "goal_type",
    "goal_value",
    "attribution_days",
    "target_channel",
    "event_at",
    "event_location",
)
EDITABLE = ("draft", "scheduled")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{6,20}$")

# --- the process's settings and notifier -------------------------------------------------------


def settings() -> Settings:
    return runtime.current().settings


def notify(campaign_id: int) -> None:
    """Called after a campaign starts sending or resumes (outside the transaction)."""
    notify_campaign = runtime.current().notify_campaign
    if notify_campaign is None:
        return
    try:
        notify_campaign(campaign_id)
    except Exception as exc:  # the scheduler's scan finds the campaign anyway (SPEC 11)
        log.warning("campaign M%s: dispatch not enqueued now (%s); the scan will", campaign_id, exc)


# --- validation --------------------------------------------------------------------------------


def check_channel_configured(channel: str, cfg: Settings | None = None) -> None:
    """Refuse a channel whose gateway the operator did not configure, naming the variable."""
    cfg = cfg or settings()
    if channel in ("email", "event"):
        if not cfg.smtp_url:
            raise ValidationError(
                "channel",
                f"{channel} campaigns need SMTP_URL (the mail server, smtp://user:pass@host:port)"
                " set by an operator",
            )
        if not cfg.mail_from:
            raise ValidationError(
                "channel", f"{channel} campaigns need MAIL_FROM (the sender address) set"
            )
    elif channel == "sms" and not cfg.sms_api_url:
        raise ValidationError(
            "channel", "sms campaigns need SMS_API_URL (the SMS provider) set by an operator"
        )


def _private_address(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not ip.is_global or ip.is_multicast


def check_webhook_url(url: str, *, resolve: bool = True) -> str:
    """An incoming-webhook URL a campaign may post to: ``https://`` only, never a loopback,
    private, link-local or otherwise non-public address (also after DNS resolution: the
    gateway checks again right before posting, against rebinding)."""
    parsed = urlparse(url)
    hint = "target=https://hooks.slack.com/services/... or target=C0123ABCD"
    if parsed.scheme != "https":
        raise ValidationError("target", "a webhook must be an https:// URL", hint=hint)
    host = parsed.hostname or ""
    if not host or parsed.username or parsed.password:
        raise ValidationError("target", "is not a valid webhook URL", hint=hint)
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise ValidationError("target", f"{host} is a local address; webhooks must be public")
    if _private_address(host):
        raise ValidationError("target", f"{host} is not a public address; webhooks must be")
    if resolve:
        try:
            infos = socket.getaddrinfo(host, parsed.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            infos = []  # unresolvable now: checked again when posting
        for info in infos:
            if _private_address(str(info[4][0])):
                raise ValidationError(
                    "target", f"{host} resolves to a non-public address; webhooks must be public"
                )
    return url


def _target(value: Any) -> str | None:
    text = clean_text(value, "target", 500)
    if text is None:
        return None
    if text.startswith("<") and text.endswith(">"):  # Slack's escaped link or channel
        text = text[1:-1].split("|")[0].lstrip("#")
    if _SLACK_CHANNEL.match(text):
        return text
    if "://" in text or text.startswith(("http", "www")):
        check_webhook_url(text)
        return encryption.encrypt(text)
    raise ValidationError(
        "target",
        f"{text[:40]!r} is neither a Slack channel id nor a webhook URL",
        hint="target=C0123ABCD or target=https://hooks.slack.com/services/...",
    )


def social_target(campaign: Campaign) -> str | None:
    """The campaign's social target in clear: a channel id or a webhook URL."""
    stored = campaign.target_channel
    return encryption.decrypt(stored) if stored and encryption.is_encrypted(stored) else stored


def _future(value: Any, field: str, actor: Actor, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    moment = parse_datetime(value, field, actor.tz, now)
    if moment <= now:
        raise ValidationError(
            field, "is in the past", hint=f'{field}="tomorrow 9am" or {field}=2026-12-24T09:00'
        )
    return moment


def _money(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    amount = parse_money(value, field)
    if amount < 0:
        raise ValidationError(field, "cannot be negative", hint=f"{field}=5000")
    return amount


def _customer_ids(actor: Actor, value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,]+", value) if v]
    if not isinstance(value, list | tuple):
        raise ValidationError("customers", "must be a list of customers", hint="customers=C1,C2")
    ids: list[int] = []
    for item in value:
        text = str(item).strip().upper()
        text = text[1:] if text.startswith("C") else text
        number = parse_int(text, "customers", 1)
        if number not in ids:
            ids.append(number)
    if len(ids) > MAX_CUSTOM:
        raise ValidationError("customers", f"at most {MAX_CUSTOM:,} customers; use a segment")
    found = {
        cid
        for (cid,) in Customer.scoped(actor, Customer.id)
        .where(Customer.id.in_(ids or [0]))
        .tuples()
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"customer {tenancy.ref_label('customer', missing[0])} not found")
    return ids


def _clean(actor: Actor, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "name":
            values["name"] = clean_text(value, "name", 200, required=True)
        elif name == "channel":
            values["channel"] = parse_choice(value, "channel", CAMPAIGN_CHANNELS)
        elif name == "segment_id":
            values["segment"] = (
                None
                if value in (None, "")
                else tenancy.fetch(CustomerSegment, actor, _ref_id(value, "S"), "segment").id
            )
        elif name == "customer_ids":
            values["customer_ids"] = _customer_ids(actor, value)
        elif name == "subject":
            text = clean_text(value, "subject", 255)
            values["subject"] = None if text is None else templates.check_template(text, "subject")
        elif name == "body":
            text = clean_text(value, "body", 20_000, collapse=False) or ""
            values["body"] = templates.check_template(text, "body")
            values["links"] = templates.find_links(text)
        elif name == "scheduled_at":
            values["scheduled_at"] = _future(value, "schedule", actor, now)
        elif name in ("budget", "cost"):
            values[name] = _money(value, name)
        elif name == "goal_type":
            values["goal_type"] = (
                None if value in (None, "") else parse_choice(value, "goal", GOAL_TYPES)
            )
        elif name == "goal_value":
            values["goal_value"] = _money(value, "goal_value")
        elif name == "attribution_days":
            values["attribution_days"] = parse_int(value, "attribution_days", 1, 365)
        elif name == "target_channel":
            values["target_channel"] = _target(value)
        elif name == "event_at":
            values["event_at"] = _future(value, "event_at", actor, now)
        elif name == "event_location":
            values["event_location"] = clean_text(value, "event_location", 255)
        else:
            raise ValidationError(name, "is not a campaign field", hint=", ".join(CAMPAIGN_FIELDS))
    return values


def _ref_id(value: Any, prefix: str) -> int:
    text = str(value).strip().upper()
    if text.startswith(prefix):
        text = text[1:]
    field = "segment" if prefix == "S" else "campaign"
    return parse_int(text, field, 1)


def _check_whole(campaign: Campaign) -> None:
    """Rules between fields, checked on the campaign as it would be saved."""
    channel = campaign.channel
    check_channel_configured(channel)
    tokens.require_keys()
    if not campaign.body.strip():
        raise ValidationError("body", "is required", hint='body="Hi {{ first_name }}, ..."')
    if channel in ("email", "event") and not campaign.subject:
        raise ValidationError("subject", "is required for email", hint='subject="Our offer"')
    if channel == "social":
        if not campaign.target_channel:
            raise ValidationError(
                "target",
                "a social campaign needs a Slack channel or a webhook URL",
                hint="target=C0123ABCD",
            )
    else:
        if campaign.segment_id is None and not campaign.customer_ids:
            raise ValidationError(
                "audience", "choose a segment or a list of customers", hint="segment=S3"
            )
        if campaign.segment_id is not None and campaign.customer_ids:
            raise ValidationError("audience", "choose a segment or customers, not both")
    if channel == "event" and campaign.event_at is None:
        raise ValidationError("event_at", "an event invitation needs its time", hint="event_at=...")
    if (campaign.goal_type is None) != (campaign.goal_value is None):
        raise ValidationError(
            "goal", "give both the goal's type and its value", hint="goal=revenue goal_value=50k"
        )


def check_audience(campaign: Campaign) -> audience.Audience:
    """Refuse an audience with nobody to send to; returns the counts."""
    if campaign.channel == "social":
        return audience.Audience(1, 0)
    counted = audience.count(campaign)
    if counted.reachable == 0:
        where = (
            tenancy.ref_label("segment", campaign.segment_id)
            if campaign.segment_id is not None
            else "the customer list"
        )
        detail = (
            f"all {counted.total} opted out or have no address for {campaign.channel}"
            if counted.total
            else "it matches no customer"
        )
        raise ValidationError("audience", f"empty audience: {where}: {detail}")
    return counted


# --- use cases ---------------------------------------------------------------------------------


def create_campaign(actor: Actor, **fields: Any) -> Campaign:
    """A new ``draft`` campaign (``scheduled`` when ``scheduled_at`` is given). Fields: see
    :data:`CAMPAIGN_FIELDS`; ``segment_id`` or ``customer_ids`` (ids, or ``C12`` refs) name the
    audience; money as :func:`crm.parsing.parse_money` reads it; times in the actor's zone.
    Every bad value is a :class:`ValidationError` naming its field."""
    permissions.require(actor, "manage_campaigns")
    now = utcnow()
    fields.setdefault("body", "")
    fields.setdefault("channel", "email")
    if "name" not in fields:
        raise ValidationError("name", "is required", hint='name="Spring offer"')
    values = _clean(actor, fields, now)
    campaign = Campaign(company=actor.company_id, created_by=actor.member_id, **values)
    _check_whole(campaign)
    check_audience(campaign)
    if campaign.scheduled_at is not None:
        campaign.status = "scheduled"
    with change(actor) as ch:
        campaign.save()
        ch.created(campaign)
        campaign.change_id = ch.change_id  # type: ignore[attr-defined]  (the receipt's Undo)
    return campaign


def update_campaign(actor: Actor, campaign_id: int, **fields: Any) -> Campaign:
    """Change a ``draft`` or ``scheduled`` campaign (same fields and checks as creation)."""
    permissions.require(actor, "manage_campaigns")
    now = utcnow()
    values = _clean(actor, fields, now)
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, EDITABLE, "changed")
        before = snapshot(campaign)
        for name, value in values.items():
            setattr(campaign, name, value)
        if "segment" in values and values["segment"] is not None:
            campaign.customer_ids = None
        if values.get("customer_ids"):
            campaign.segment = None
        _check_whole(campaign)
        check_audience(campaign)
        if "scheduled_at" in values:
            campaign.status = "scheduled" if campaign.scheduled_at else "draft"
        campaign.save()
        ch.updated(campaign, before)
    return campaign


def get_campaign(actor: Actor, campaign_id: Any) -> Campaign:
    """Any member of the company may read a campaign (``M4``, ``4`` or 4)."""
    return tenancy.fetch(Campaign, actor, _ref_id(campaign_id, "M"), "campaign")


def list_campaigns(
    actor: Actor, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[Campaign]:
    """The company's campaigns, newest first; ``status`` narrows them."""
    query = Campaign.scoped(actor)
    if status:
        query = query.where(Campaign.status == parse_choice(status, "status", CAMPAIGN_STATUSES))
    limit = parse_int(limit, "limit", 1, 500)
    offset = parse_int(offset, "offset", 0)
    return list(query.order_by(Campaign.id.desc()).limit(limit).offset(offset))


def _locked(actor: Actor, campaign_id: Any) -> Campaign:
    return tenancy.fetch_for_update(Campaign, actor, _ref_id(campaign_id, "M"), "campaign")


def _require_status(campaign: Campaign, allowed: tuple[str, ...], doing: str) -> None:
    if campaign.status not in allowed:
        label = tenancy.ref_label("campaign", campaign.id)
        raise Conflict(
            f"{label} is {campaign.status}; only a {' or '.join(allowed)} campaign can be {doing}"
        )


def schedule(actor: Actor, campaign_id: Any, at: Any) -> Campaign:
    """Schedule a ``draft`` (or move a ``scheduled``) campaign to ``at`` (in the future)."""
    permissions.require(actor, "manage_campaigns")
    moment = _future(at, "schedule", actor, utcnow())
    if moment is None:
        raise ValidationError("schedule", "is required", hint='schedule="tomorrow 9am"')
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, EDITABLE, "scheduled")
        _check_whole(campaign)
        check_audience(campaign)
        before = snapshot(campaign)
        campaign.scheduled_at = moment
        campaign.status = "scheduled"
        campaign.save()
        ch.updated(campaign, before, action="schedule")
    return campaign


def _start(campaign: Campaign, now: datetime) -> None:
    """Materialise the audience and move to ``sending`` (inside the caller's transaction)."""
    counted = audience.materialise(campaign, now)
    campaign.status = "sending"
    campaign.started_at = campaign.started_at or now
    campaign.audience_count = counted.total if campaign.channel != "social" else 1
    campaign.skipped_count = counted.skipped
    campaign.paused_reason = None
    campaign.connect_failures = 0
    campaign.dispatch_seen_at = None  # never dispatched: the next campaign scan enqueues it
    campaign.save()


def send_now(actor: Actor, campaign_id: Any) -> Campaign:
    """Start sending a ``draft`` or ``scheduled`` campaign now: its audience is materialised
    (one statement) in this transaction, then the dispatch is enqueued."""
    permissions.require(actor, "manage_campaigns")
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, EDITABLE, "sent")
        _check_whole(campaign)
        check_audience(campaign)
        before = snapshot(campaign)
        _start(campaign, utcnow())
        ch.updated(campaign, before, action="send")
    notify(campaign.id)
    return campaign


def start_due(now: datetime | None = None, limit: int = 100) -> list[int]:
    """Start every ``scheduled`` campaign whose time has come (the scheduler's scan). Each is
    moved by a conditional UPDATE, so two schedulers racing start (and enqueue) it once.
    Returns the ids this call started."""
    now = now or utcnow()
    due = [
        cid
        for (cid,) in Campaign.unscoped(Campaign.id, why="the scheduler's scan of every workspace")
        .where((Campaign.status == "scheduled") & (Campaign.scheduled_at <= now))
        .order_by(Campaign.scheduled_at)
        .limit(limit)
        .tuples()
    ]
    started = []
    for cid in due:
        with database.atomic():  # the move and the audience commit together
            won = (
                Campaign.unscoped_update(
                    status="sending", updated_at=now, why="starts what the scan found, by id"
                )
                .where((Campaign.id == cid) & (Campaign.status == "scheduled"))
                .execute()
            )
            if not won:
                continue
            campaign = (
                Campaign.unscoped(why="the row the scan just moved").where(Campaign.id == cid).get()
            )
            actor = Actor.system(campaign.company_id, "worker")
            with change(actor) as ch:
                before = snapshot(campaign)
                before["status"] = "scheduled"
                _start(campaign, now)
                ch.updated(campaign, before, action="send")
        started.append(cid)
    return started


def pause(actor: Actor, campaign_id: Any, reason: str | None = None) -> Campaign:
    """Pause a ``sending`` (or ``scheduled``) campaign: no batch starts after this commits,
    so sending stops within the batch in flight."""
    permissions.require(actor, "manage_campaigns")
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, ("sending", "scheduled"), "paused")
        before = snapshot(campaign)
        campaign.status = "paused"
        campaign.paused_reason = reason or f"paused by {actor.label or 'an admin'}"
        campaign.save()
        ch.updated(campaign, before, action="pause")
    return campaign


def resume(actor: Actor, campaign_id: Any) -> Campaign:
    """Resume a ``paused`` campaign where it stopped (recipients already sent stay sent)."""
    permissions.require(actor, "manage_campaigns")
    now = utcnow()
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, ("paused",), "resumed")
        check_channel_configured(campaign.channel)
        before = snapshot(campaign)
        campaign.paused_reason = None
        campaign.connect_failures = 0
        if campaign.started_at is None:
            if campaign.scheduled_at and campaign.scheduled_at > now:
                campaign.status = "scheduled"
            else:
                _start(campaign, now)
        else:
            campaign.status = "sending"
        # the stopped dispatch left its heartbeat behind: cleared, the next scan sends the rest
        # at once instead of a lease later (claims keep any old chain from sending twice)
        campaign.dispatch_seen_at = None
        campaign.save()
        ch.updated(campaign, before, action="resume")
    if campaign.status == "sending":
        notify(campaign.id)
    return campaign


def cancel(actor: Actor, campaign_id: Any) -> Campaign:
    """Stop a campaign for good; what was sent stays counted, the rest is never sent."""
    permissions.require(actor, "manage_campaigns")
    with change(actor) as ch:
        campaign = _locked(actor, campaign_id)
        _require_status(campaign, ("draft", "scheduled", "sending", "paused"), "cancelled")
        before = snapshot(campaign)
        campaign.status = "cancelled"
        campaign.finished_at = utcnow()
        campaign.save()
        ch.updated(campaign, before, action="cancel")
    return campaign


def pause_all(actor: Actor) -> list[Campaign]:
    """The kill switch (admins): pause every sending or scheduled campaign of the workspace at
    once, with the reason on each card. Returns the campaigns paused."""
    permissions.require(actor, "manage_settings")
    reason = f"kill switch pulled by {actor.label or 'an admin'}"
    paused: list[Campaign] = []
    with change(actor) as ch:
        query = Campaign.scoped(actor).where(Campaign.status.in_(("sending", "scheduled")))
        from crm.db import is_postgres

        if is_postgres():
            query = query.for_update()
        for campaign in query:
            before = snapshot(campaign)
            campaign.status = "paused"
            campaign.paused_reason = reason
            campaign.save()
            ch.updated(campaign, before, action="pause")
            paused.append(campaign)
    return paused


# --- preview and figures -------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    campaign: Campaign
    customer: Customer | None  # the real recipient it was rendered for
    subject: str
    text: str
    html: str
    audience: int  # reachable: after opt-outs and missing addresses
    skipped: int
    cost_per_message: Decimal | None


def _sample_customer(campaign: Campaign) -> Customer | None:
    if campaign.channel == "social":
        return None
    query = (
        audience.joined(Customer.scoped(campaign, Customer, CustomerMetric.tier.alias("tier")))
        .where(audience._where(campaign, utcnow()))
        .where(~audience._opted_out(campaign.channel))
        .order_by(Customer.name, Customer.id)
        .limit(1)
    )
    if campaign.channel in audience.ADDRESS:
        query = query.where(~audience._no_address(campaign.channel))
    return query.objects().first()


def render_for(campaign: Campaign, customer: Customer | None, token: str) -> templates.Rendered:
    """The message ``customer`` gets (``token``: the recipient's public token; previews use a
    token that leads nowhere)."""
    company = Company.get_by_id(campaign.company_id)
    fields = (
        templates.context(customer, company.name)
        if customer is not None
        else {name: "" for name in templates.FIELDS} | {"our_company": company.name}
    )
    links = campaign.links or []
    base = settings().public_url
    tracked = [f"{base}/t/c/{token}/{n}" for n in range(1, len(links) + 1)]
    return templates.render(campaign.subject, campaign.body, fields, links, tracked)


def preview(actor: Actor, campaign_id: Any) -> Preview:
    """The message rendered for one real recipient, the audience after opt-outs and the cost
    per message (cost, else budget, over the reachable audience)."""
    campaign = get_campaign(actor, campaign_id)
    if campaign.status in ("draft", "scheduled", "paused") and campaign.started_at is None:
        counted = audience.count(campaign) if campaign.channel != "social" else None
    else:
        counted = audience.stored(campaign) if campaign.channel != "social" else None
    reachable = counted.reachable if counted else 1
    customer = _sample_customer(campaign)
    rendered = render_for(campaign, customer, "preview")
    spend = campaign.cost if campaign.cost is not None else campaign.budget
    per = (spend / reachable).quantize(Decimal("0.01")) if spend is not None and reachable else None
    return Preview(
        campaign=campaign,
        customer=customer,
        subject=rendered.subject,
        text=rendered.text,
        html=templates.close_html(rendered.html),
        audience=reachable,
        skipped=counted.skipped if counted else 0,
        cost_per_message=per,
    )


@dataclass(frozen=True)
class Figures:
    """What the campaign card shows (SPEC 6), read in one pass."""

    status: str
    paused_reason: str | None
    audience: int
    skipped: int
    pending: int  # not yet sent, failed or skipped
    sent: int
    failed: int
    resent: int  # "resent after a crash"
    opened: int
    clicked: int
    converted: int
    unsubscribed: int
    revenue: Decimal
    spend: Decimal | None  # cost, else budget
    roi: Decimal | None  # percent
    goal_type: str | None
    goal_value: Decimal | None
    goal_progress: Decimal | None  # percent of the goal reached


def roi(revenue: Decimal, spend: Decimal | None) -> Decimal | None:
    """(attributed revenue − cost) / cost × 100; none without a cost (or budget) above 0."""
    if spend is None or spend <= 0:
        return None
    return ((revenue - spend) / spend * 100).quantize(Decimal("0.01"))


def figures(campaign: Campaign) -> Figures:
    c = Campaign.scoped(campaign).where(Campaign.id == campaign.id).get()  # fresh counters
    spend = c.cost if c.cost is not None else c.budget
    revenue = c.attributed_revenue or Decimal(0)
    progress = None
    if c.goal_type and c.goal_value:
        reached = Decimal(c.converted_count) if c.goal_type == "conversions" else revenue
        progress = (reached / c.goal_value * 100).quantize(Decimal("0.1"))
    pending = max(c.audience_count - c.skipped_count - c.sent_count - c.failed_count, 0)
    return Figures(
        status=c.status,
        paused_reason=c.paused_reason,
        audience=c.audience_count,
        skipped=c.skipped_count,
        pending=pending if c.status not in ("cancelled", "sent") else 0,
        sent=c.sent_count,
        failed=c.failed_count,
        resent=c.resent_count,
        opened=c.opened_count,
        clicked=c.clicked_count,
        converted=c.converted_count,
        unsubscribed=c.unsubscribed_count,
        revenue=revenue,
        spend=spend,
        roi=roi(revenue, spend),
        goal_type=c.goal_type,
        goal_value=c.goal_value,
        goal_progress=progress,
    )


def last_week(actor: Actor, now: datetime | None = None) -> list[Campaign]:
    """Campaigns that sent during the seven days before ``now`` (the weekly digest's line)."""
    now = now or utcnow()
    return list(
        Campaign.scoped(actor)
        .where(
            Campaign.started_at.is_null(False)
            & ((Campaign.finished_at.is_null()) | (Campaign.finished_at >= now - timedelta(days=7)))
            & (Campaign.started_at < now)
        )
        .order_by(Campaign.started_at)
    )
