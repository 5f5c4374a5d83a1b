"""Block Kit for campaigns: the New campaign modal, the card with its sending controls, the
list, the preview, the Schedule form and the finish report (SPEC 6). Plain functions of what
:mod:`crm.campaigns.service` returns; the buttons a card shows follow the campaign's status
and whether the member may run campaigns (reps see the card without controls)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    escape,
    fields_section,
    header,
    section,
    truncate,
)
from bot.blocks.modals import Origin, modal, record_select, select_input, text_input
from crm.campaigns.service import Figures, Preview
from crm.models import CAMPAIGN_CHANNELS, Campaign
from crm.parsing import format_money
from crm.tenancy import ref_label

CAMPAIGN_VIEW = "campaign_modal"
SCHEDULE_VIEW = "campaign_schedule_modal"

PREVIEW_ACTION = "campaign_preview"
SEND_ACTION = "campaign_send"
SCHEDULE_ACTION = "campaign_schedule"
PAUSE_ACTION = "campaign_pause"
RESUME_ACTION = "campaign_resume"
CANCEL_ACTION = "campaign_cancel"
REFRESH_ACTION = "campaign_refresh"
CONTROL_ACTIONS = (
    PREVIEW_ACTION,
    SEND_ACTION,
    SCHEDULE_ACTION,
    PAUSE_ACTION,
    RESUME_ACTION,
    CANCEL_ACTION,
    REFRESH_ACTION,
)

CHANNEL_NAMES = {
    "email": "Email",
    "sms": "SMS",
    "social": "Slack post or webhook",
    "event": "Event invitation",
}
STATUS_ICONS = {
    "draft": ":memo:",
    "scheduled": ":alarm_clock:",
    "sending": ":outbox_tray:",
    "paused": ":double_vertical_bar:",
    "sent": ":white_check_mark:",
    "cancelled": ":no_entry_sign:",
}
PREVIEW_TEXT_LIMIT = 2500


# --- the New campaign modal ---------------------------------------------------------------------


def campaign_modal(origin: Origin, tz: str) -> Block:
    """New campaign: who (a segment, or customers picked one by one), what, when, and what it
    is worth. Times are read in the member's zone, the way ``/crm`` commands read them."""
    zone = f"In your time zone ({tz})"
    blocks = [
        text_input("name", "Name", placeholder="Spring offer", max_length=200),
        select_input(
            "channel",
            "Channel",
            [(c, CHANNEL_NAMES[c]) for c in CAMPAIGN_CHANNELS],
            initial="email",
        ),
        record_select(
            "segment",
            "Segment",
            ("segment",),
            optional=True,
            placeholder="Type a segment's name",
            hint="A segment, or customers below",
        ),
        record_select(
            "customers",
            "Customers",
            ("customer",),
            multi=True,
            optional=True,
            hint="Instead of a segment: the customers to reach",
        ),
        text_input(
            "subject",
            "Subject",
            placeholder="Spring offer for {{ first_name }}",
            optional=True,
            max_length=255,
            hint="Email and invitations; fields such as {{ first_name }} are filled in",
        ),
        text_input(
            "body",
            "Message",
            placeholder="Dear {{ name }}, ... https://shop.example.com/spring",
            multiline=True,
            hint="Links become tracked links; every email gets an unsubscribe link",
        ),
        text_input(
            "schedule",
            "Send at",
            placeholder="tomorrow 9am",
            optional=True,
            hint=f"{zone}. Empty: a draft you send from its card",
        ),
        text_input("budget", "Budget", placeholder="5k", optional=True),
        text_input("cost", "Cost", placeholder="1200", optional=True, hint="Spent so far (ROI)"),
        select_input(
            "goal",
            "Goal",
            [("none", "No goal"), ("conversions", "Conversions"), ("revenue", "Revenue")],
            initial="none",
        ),
        text_input("goal_value", "Goal value", placeholder="50", optional=True),
        text_input(
            "attribution_days",
            "Attribution window (days)",
            placeholder="30",
            optional=True,
            hint="An order this many days after the send counts as a conversion",
        ),
        text_input(
            "target",
            "Slack channel or webhook",
            placeholder="C0123ABCD or https://hooks.slack.com/services/...",
            optional=True,
            hint="Slack posts only",
        ),
        text_input(
            "event_at", "Event time", placeholder="2027-03-20 18:00", optional=True, hint=zone
        ),
        text_input(
            "event_location", "Event place", placeholder="Lusaka", optional=True, max_length=255
        ),
    ]
    return modal(CAMPAIGN_VIEW, "New campaign", blocks, origin, "Save")


def schedule_modal(campaign: Campaign, origin: Origin, tz: str) -> Block:
    """Schedule (the card's button): one field, the moment, in the member's zone."""
    blocks = [
        section(f"When should *{escape(_title(campaign))}* go out?"),
        text_input("schedule", "Send at", placeholder="tomorrow 9am", hint=f"In your zone ({tz})"),
    ]
    view = modal(SCHEDULE_VIEW, "Schedule campaign", blocks, origin, "Schedule")
    view["private_metadata"] = f"{campaign.id}|{view['private_metadata']}"[:3000]
    return view


# --- the card -----------------------------------------------------------------------------------


def _title(c: Campaign) -> str:
    return f"{ref_label('campaign', c.id)} {c.name}"


def _money(amount: Decimal | None, currency: str) -> str:
    return "—" if amount is None else format_money(amount, currency)


def _progress(f: Figures) -> str:
    to_send = max(f.audience - f.skipped, 0)
    done = f.sent + f.failed
    if not to_send:
        return "—"
    filled = round(10 * done / to_send)
    return f"{'▰' * filled}{'▱' * (10 - filled)} {done}/{to_send}"


def controls(c: Campaign, f: Figures, can_run: bool) -> list[Block]:
    """The buttons the campaign's status allows; none for a member who may not run it."""
    ref = ref_label("campaign", c.id)
    buttons = [button("Preview", PREVIEW_ACTION, ref)]
    if can_run:
        if f.status in ("draft", "scheduled"):
            buttons.append(
                button(
                    "Send now",
                    SEND_ACTION,
                    ref,
                    style="primary",
                    confirm={
                        "title": {"type": "plain_text", "text": "Send now?"},
                        "text": {"type": "mrkdwn", "text": f"{escape(_title(c))} goes out now."},
                        "confirm": {"type": "plain_text", "text": "Send"},
                        "deny": {"type": "plain_text", "text": "Not yet"},
                    },
                )
            )
            buttons.append(button("Schedule", SCHEDULE_ACTION, ref))
        if f.status in ("sending", "scheduled"):
            buttons.append(button("Pause", PAUSE_ACTION, ref))
        if f.status == "paused":
            buttons.append(button("Resume", RESUME_ACTION, ref, style="primary"))
        if f.status in ("draft", "scheduled", "sending", "paused"):
            buttons.append(button("Cancel", CANCEL_ACTION, ref, style="danger"))
    buttons.append(button("Refresh", REFRESH_ACTION, ref))
    return [actions(*buttons, block_id=f"campaign:{c.id}")]


def campaign_card(
    c: Campaign, f: Figures, currency: str, *, can_run: bool, zone: str | None = None
) -> list[Block]:
    """The campaign's card: status, audience, progress, and every figure of SPEC 6."""
    status = f"{STATUS_ICONS.get(f.status, '')} {f.status.capitalize()}"
    if f.status == "scheduled" and c.scheduled_at:
        status += f" for {c.scheduled_at:%Y-%m-%d %H:%M} UTC"
    blocks: list[Block] = [
        header(truncate(_title(c), 150)),
        section(f"*{status}* · {CHANNEL_NAMES.get(c.channel, c.channel)}"),
    ]
    if f.paused_reason and f.status == "paused":
        blocks.append(context(f":warning: {escape(f.paused_reason)}"))
    pairs = [
        ("Audience", str(f.audience)),
        ("Skipped", str(f.skipped)),
        ("Progress", _progress(f)),
        ("Sent", str(f.sent) + (f" ({f.resent} resent after a crash)" if f.resent else "")),
        ("Failed", str(f.failed)),
        ("Opened", str(f.opened)),
        ("Clicked", str(f.clicked)),
        ("Converted", str(f.converted)),
        ("Unsubscribed", str(f.unsubscribed)),
        ("Attributed revenue", _money(f.revenue, currency)),
    ]
    blocks.append(fields_section(pairs))
    money = [
        ("Cost" if c.cost is not None else "Budget", _money(f.spend, currency)),
        ("ROI", "—" if f.roi is None else f"{f.roi}%"),
    ]
    if f.goal_type and f.goal_value is not None:
        target = (
            str(int(f.goal_value))
            if f.goal_type == "conversions"
            else _money(f.goal_value, currency)
        )
        money.append(("Goal", f"{f.goal_progress}% of {target} {f.goal_type}"))
    blocks.append(fields_section(money))
    blocks += controls(c, f, can_run)
    return blocks


def campaign_list_blocks(found: Sequence[Campaign]) -> list[Block]:
    if not found:
        return [section("No campaigns yet. `/crm campaign` opens the New campaign form.")]
    lines = [
        f"{STATUS_ICONS.get(c.status, '')} *{escape(_title(c))}* · {c.channel} · {c.status}"
        + (f" · {c.sent_count}/{c.audience_count - c.skipped_count} sent" if c.started_at else "")
        for c in found
    ]
    blocks = [header("Campaigns")]
    for start in range(0, len(lines), 20):
        blocks.append(section("\n".join(lines[start : start + 20])))
    blocks.append(context("`/crm campaign M4` shows a campaign's card"))
    return blocks


def preview_blocks(p: Preview, currency: str, *, can_run: bool, figures: Figures) -> list[Block]:
    """The message as one real recipient gets it, who it reaches, and what each one costs."""
    c = p.campaign
    who = (
        f"Rendered for *{escape(p.customer.name)}* ({ref_label('customer', p.customer.id)})"
        if p.customer is not None
        else "No reachable recipient to render for"
    )
    if c.channel == "social":
        who = "Posted once to the campaign's channel"
    reach = f"Reaches *{p.audience}*, skips {p.skipped} (opted out or no address)"
    per = (
        f" · {format_money(p.cost_per_message, currency)} per message"
        if p.cost_per_message is not None
        else ""
    )
    blocks: list[Block] = [
        header(truncate(f"Preview: {_title(c)}", 150)),
        context(who, reach + per),
    ]
    if p.subject:
        blocks.append(section(f"*Subject:* {escape(p.subject)}"))
    blocks.append(section(escape(truncate(p.text, PREVIEW_TEXT_LIMIT)) or "_(empty)_"))
    blocks += controls(c, figures, can_run)
    return blocks


def finish_report(c: Campaign, f: Figures, currency: str) -> tuple[list[Block], str]:
    """What the creator gets when a campaign has gone out to everyone."""
    text = f"{_title(c)} has finished: {f.sent} sent, {f.failed} failed, {f.skipped} skipped"
    blocks = [
        section(f":white_check_mark: *{escape(_title(c))}* has finished sending."),
        fields_section(
            [
                ("Sent", str(f.sent)),
                ("Failed", str(f.failed)),
                ("Skipped", str(f.skipped)),
                ("Resent after a crash", str(f.resent)),
                ("Opened", str(f.opened)),
                ("Spend", _money(f.spend, currency)),
            ]
        ),
        context(f"`/crm campaign {ref_label('campaign', c.id)}` shows its card as figures come in"),
    ]
    return blocks, text


def digest_lines(found: Sequence[Campaign], currency: str) -> list[str]:
    """The weekly digest's campaigns of last week, one line each."""
    return [
        f"*{escape(_title(c))}* ({c.channel}): {c.sent_count} sent, {c.opened_count} opened, "
        f"{c.converted_count} converted, {_money(c.attributed_revenue, currency)}"
        for c in found
    ]
