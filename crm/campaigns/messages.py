"""What one recipient receives, per channel: the email (text and HTML parts, unsubscribe link
and the RFC 8058 one-click headers, Message-ID from the recipient's token), the event
invitation (the same email plus RSVP links and an ``.ics`` made with the icalendar package),
the SMS (text with tracked links and an opt-out line), and the social post.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from icalendar import Calendar, Event

from crm.campaigns import templates, tokens
from crm.campaigns.gateways import Sms
from crm.models import Campaign

RSVP_LABELS = {"yes": "Yes, I'll come", "maybe": "Maybe", "no": "No, thanks"}


def links_for(public_url: str, public_token: str) -> dict[str, str]:
    base = f"{public_url}/t"
    return {
        "open": f"{base}/o/{public_token}.gif",
        "unsubscribe": f"{base}/u/{public_token}",
        **{f"rsvp_{a}": f"{base}/r/{public_token}?answer={a}" for a in RSVP_LABELS},
    }


def tracked(public_url: str, public_token: str, campaign: Campaign) -> list[str]:
    return [f"{public_url}/t/c/{public_token}/{n}" for n in range(1, len(campaign.links or []) + 1)]


def _ics(campaign: Campaign, domain: str, organizer: str, to: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Slack CRM//campaigns//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"campaign-{campaign.id}@{domain}")
    event.add("summary", campaign.subject or campaign.name)
    start = campaign.event_at.replace(tzinfo=UTC)
    event.add("dtstart", start)
    event.add("dtend", start.replace(hour=min(start.hour + 1, 23)))
    event.add("dtstamp", datetime.now(UTC))
    if campaign.event_location:
        event.add("location", campaign.event_location)
    event.add("organizer", f"mailto:{organizer}")
    cal.add_component(event)
    return cal.to_ical()


def email(
    campaign: Campaign,
    fields: dict[str, str],
    *,
    to: str,
    raw_token: str,
    public_url: str,
    mail_from: str,
    domain: str,
    sender: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The email (or event invitation) for one recipient."""
    public = tokens.sign(raw_token)
    urls = links_for(public_url, public)
    rendered = templates.render(
        campaign.subject,
        campaign.body,
        fields,
        campaign.links or [],
        tracked(public_url, public, campaign),
    )
    text = rendered.text.rstrip("\n") + "\n"
    footer = ""
    if campaign.channel == "event":
        when = campaign.event_at.strftime("%Y-%m-%d %H:%M UTC")
        where = f" at {campaign.event_location}" if campaign.event_location else ""
        text += f"\nWhen: {when}{where}\nWill you come?\n"
        text += "".join(f"  {label}: {urls['rsvp_' + a]}\n" for a, label in RSVP_LABELS.items())
        buttons = " | ".join(
            f'<a href="{html.escape(urls["rsvp_" + a])}">{html.escape(label)}</a>'
            for a, label in RSVP_LABELS.items()
        )
        footer += (
            f"<p><b>When:</b> {html.escape(when + where)}</p>\n<p>Will you come? {buttons}</p>\n"
        )
    text += f"\n--\nTo stop receiving these: {urls['unsubscribe']}\n"
    footer += (
        f'<p style="font-size:small;color:#666"><a href="{html.escape(urls["unsubscribe"])}">'
        "Unsubscribe</a></p>\n"
        f'<img src="{html.escape(urls["open"])}" width="1" height="1" alt="">'
    )
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = formataddr((fields.get("name") or "", to))
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime((now or datetime.now(UTC)).replace(tzinfo=UTC))
    msg["Message-ID"] = tokens.message_id(raw_token, domain)
    msg["List-Unsubscribe"] = f"<{urls['unsubscribe']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-CRM-Campaign"] = f"M{campaign.id}"
    msg.set_content(text)
    msg.add_alternative(templates.close_html(rendered.html, footer), subtype="html")
    if campaign.channel == "event":
        msg.add_attachment(
            _ics(campaign, domain, sender, to),
            maintype="text",
            subtype="calendar",
            filename="invitation.ics",
            params={"method": "PUBLISH"},
        )
    return msg


def sms(
    campaign: Campaign, fields: dict[str, str], *, to: str, raw_token: str, public_url: str
) -> Sms:
    public = tokens.sign(raw_token)
    rendered = templates.render(
        None, campaign.body, fields, campaign.links or [], tracked(public_url, public, campaign)
    )
    body = f"{rendered.text.strip()}\nStop: {public_url}/t/u/{public}"
    return Sms(to=to, body=body, idempotency_key=raw_token)


def social_text(campaign: Campaign, our_company: str) -> str:
    """A post is not addressed to anyone: customer fields render empty, links stay as they are."""
    fields: dict[str, Any] = {name: "" for name in templates.FIELDS} | {"our_company": our_company}
    return templates.render_text(campaign.body, fields).strip()
