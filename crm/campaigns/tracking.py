"""What the tracking pages (``/t/...`` on the web process) record: opens, clicks,
unsubscribes and RSVPs, for the recipient a signed token names (:mod:`.tokens`).

Every event is kept (a :class:`CampaignEvent` row); the unique figures on the card count a
recipient once: the first open sets ``opened_at`` and adds one to ``opened_count`` in the same
conditional UPDATE, so concurrent hits cannot count twice. A click also counts as an open
(the pixel is often blocked). An unknown or forged token is :class:`~crm.errors.NotFound`;
a link number the campaign does not have is too, and nothing is redirected.
"""

from __future__ import annotations

from datetime import datetime

from peewee import fn

from crm.acting import Actor
from crm.audit import change
from crm.campaigns import optouts, tokens
from crm.clock import utcnow
from crm.db import database
from crm.errors import NotFound, ValidationError
from crm.models import Campaign, CampaignEvent, CampaignRecipient, Customer

RSVP_ANSWERS = ("yes", "no", "maybe")


def recipient(public_token: str) -> CampaignRecipient:
    """The recipient a public token names, or :class:`NotFound`."""
    raw = tokens.unsign(public_token)
    found = (
        CampaignRecipient.unscoped(why="the signed token is what names the recipient")
        .where(CampaignRecipient.token == raw)
        .first()
    )
    if found is None:
        raise NotFound("link not found")
    return found


def _campaign(r: CampaignRecipient) -> Campaign:
    return Campaign.scoped(r).where(Campaign.id == r.campaign_id).get()


def channel_of(public_token: str) -> str:
    """The channel the recipient's campaign went out on (what the unsubscribe page names)."""
    return _campaign(recipient(public_token)).channel


def campaign_title(public_token: str) -> str:
    """What the RSVP page calls the event: the invitation's subject, else its name."""
    campaign = _campaign(recipient(public_token))
    return campaign.subject or campaign.name


def _first(r: CampaignRecipient, column: str, counter: str, now: datetime) -> bool:
    """Set ``column`` once and bump the campaign's unique ``counter`` with it."""
    field = getattr(CampaignRecipient, column)
    won = (
        CampaignRecipient.scoped_update(r, {field: now})
        .where((CampaignRecipient.id == r.id) & field.is_null())
        .execute()
    )
    if won:
        Campaign.scoped_update(r, {counter: getattr(Campaign, counter) + 1}).where(
            Campaign.id == r.campaign_id
        ).execute()
    return bool(won)


def _event(r: CampaignRecipient, kind: str, url: str | None, now: datetime) -> None:
    CampaignEvent.create(company=r.company_id, recipient=r.id, kind=kind, url=url, occurred_at=now)


def record_open(public_token: str, now: datetime | None = None) -> CampaignRecipient:
    """The pixel was loaded."""
    now = now or utcnow()
    r = recipient(public_token)
    with database.atomic():
        _event(r, "open", None, now)
        _first(r, "opened_at", "opened_count", now)
    return r


def click(public_token: str, n: int | str, now: datetime | None = None) -> str:
    """The address of link ``n`` (1-based) of the recipient's campaign, recording the click;
    :class:`NotFound` for a number the campaign does not have."""
    now = now or utcnow()
    r = recipient(public_token)
    links = _campaign(r).links or []
    try:
        index = int(str(n))
    except ValueError:
        raise NotFound("link not found") from None
    if not 1 <= index <= len(links):
        raise NotFound("link not found")
    url = links[index - 1]
    with database.atomic():
        _event(r, "click", url, now)
        _first(r, "clicked_at", "clicked_count", now)
        _first(r, "opened_at", "opened_count", now)
    return url


def unsubscribe(
    public_token: str, *, one_click: bool = False, now: datetime | None = None
) -> Customer:
    """Opt the recipient's customer out of the campaign's channel (the page's button, or the
    RFC 8058 one-click POST); repeating it changes nothing."""
    now = now or utcnow()
    r = recipient(public_token)
    campaign = _campaign(r)
    actor = Actor(
        company_id=r.company_id,
        kind="system",
        origin="api",
        role="system",
        label="unsubscribe link",
    )
    with change(actor) as ch:
        customer = Customer.scoped(r).where(Customer.id == r.customer_id).get()
        optouts.record(
            ch,
            customer,
            campaign.channel,
            "one_click" if one_click else "link",
            campaign_id=campaign.id,
            at=now,
        )
        if _first(r, "unsubscribed_at", "unsubscribed_count", now):
            _event(r, "unsubscribe", None, now)
    return customer


def rsvp(public_token: str, answer: str, now: datetime | None = None) -> CampaignRecipient:
    """An event invitation's answer (``yes``, ``no``, ``maybe``); the last answer counts, every
    answer is kept."""
    now = now or utcnow()
    answer = (answer or "").strip().lower()
    if answer not in RSVP_ANSWERS:
        raise ValidationError(
            "answer", f"{answer[:20]!r} is not yes, no or maybe", hint="answer=yes"
        )
    r = recipient(public_token)
    with database.atomic():
        _event(r, "rsvp", answer, now)
        CampaignRecipient.scoped_update(r, rsvp=answer, updated_at=now).where(
            CampaignRecipient.id == r.id
        ).execute()
    r.rsvp = answer
    return r


def rsvp_counts(campaign: Campaign) -> dict[str, int]:
    """Current answers of an event campaign's recipients."""
    rows = (
        CampaignRecipient.scoped(campaign, CampaignRecipient.rsvp, fn.COUNT(CampaignRecipient.id))
        .where((CampaignRecipient.campaign == campaign.id) & CampaignRecipient.rsvp.is_null(False))
        .group_by(CampaignRecipient.rsvp)
        .tuples()
    )
    return {answer: 0 for answer in RSVP_ANSWERS} | {a: int(n) for a, n in rows}
