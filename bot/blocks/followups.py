"""Block Kit for the messages about follow-ups that the bot sends on its own (SPEC 5.3):
the overdue reminder DM with its buttons, what that DM becomes after Done or Snooze, and the
daily and weekly digests. Plain functions from data to dicts: no Slack calls, no queries.

Times are rendered with Slack's ``<!date^...>`` tokens, so every reader sees them in their
own zone; the fallback text carries the UTC time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from bot.blocks.campaigns import digest_lines
from bot.blocks.common import (
    UNDO_ACTION,
    Block,
    actions,
    button,
    context,
    escape,
    fallback,
    header,
    section,
)
from crm.digests import DailyDigest, DigestItem, WeeklyDigest
from crm.tenancy import ref_label

__all__ = [
    "DONE",
    "OPEN",
    "SNOOZE",
    "SNOOZE_ACTION",
    "SNOOZE_CHOICES",
    "daily_digest_blocks",
    "daily_digest_text",
    "reminder_blocks",
    "reminder_done_blocks",
    "reminder_snoozed_blocks",
    "reminder_text",
    "snooze_action_id",
    "snooze_buttons",
    "weekly_digest_blocks",
    "weekly_digest_text",
    "when",
]

# action ids of the reminder buttons (bot/listeners/actions/followups.py answers them)
DONE = "followup_done"
SNOOZE = "followup_snooze"
OPEN = "followup_open"
SNOOZE_CHOICES: dict[str, str] = {"1h": "Snooze 1 hour", "1d": "Snooze 1 day", "1w": "Next week"}
# Slack refuses a block whose buttons share an action_id, so each choice has its own;
# listeners match them all with SNOOZE_ACTION.
SNOOZE_ACTION = re.compile(rf"^{SNOOZE}_(?:{'|'.join(SNOOZE_CHOICES)})$")


def snooze_action_id(choice: str) -> str:
    return f"{SNOOZE}_{choice}"


def snooze_buttons(fid: str) -> list[Block]:
    """Snooze 1 hour / 1 day / next week; the value carries the follow-up and the choice."""
    return [
        button(label, snooze_action_id(key), f"{fid}:{key}")
        for key, label in SNOOZE_CHOICES.items()
    ]


MAX_LINES = 15


def when(moment: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """A naive-UTC moment as a Slack date token, shown in the reader's time zone."""
    epoch = int(moment.replace(tzinfo=UTC).timestamp())
    return f"<!date^{epoch}^{fmt}|{moment:%Y-%m-%d %H:%M} UTC>"


def _summary(
    fid: int, title: str, due_at: datetime, subject: str, priority: str, notes: str | None
) -> str:
    flag = " :red_circle:" if priority == "high" else ""
    lines = [
        f"*{ref_label('followup', fid)}* {escape(title)}{flag}",
        f"Due {when(due_at)} · on {escape(subject)}",
    ]
    if notes:
        lines.append(f"> {escape(notes[:300])}")
    return "\n".join(lines)


def reminder_blocks(
    *,
    follow_up_id: int,
    title: str,
    due_at: datetime,
    subject: str,
    priority: str = "medium",
    notes: str | None = None,
    permalink: str | None = None,
    reminder_number: int = 1,
) -> list[Block]:
    """The overdue reminder DM: what is late, and Done / Snooze / Open to act on it at once."""
    fid = str(follow_up_id)
    buttons = [button("Done", DONE, fid, style="primary")]
    buttons += snooze_buttons(fid)
    # with a permalink, Open also takes the member to the message the follow-up came from
    buttons.append(button("Open", OPEN, fid, url=permalink))
    again = f" (reminder {reminder_number})" if reminder_number > 1 else ""
    return [
        section(
            ":alarm_clock: *Overdue follow-up*"
            + again
            + "\n"
            + _summary(follow_up_id, title, due_at, subject, priority, notes)
        ),
        actions(*buttons, block_id=f"followup_reminder:{fid}"),
        context("You get at most one reminder a day, and none at night."),
    ]


def reminder_text(follow_up_id: int, title: str) -> str:
    """The notification text (also what screen readers and old clients show)."""
    return fallback(f"Overdue follow-up {ref_label('followup', follow_up_id)}: {title}")


def reminder_done_blocks(
    *, follow_up_id: int, title: str, by_user: str | None = None, change_id: str | None = None
) -> list[Block]:
    """What the reminder becomes once done: no Done to press twice, and the Undo that every
    write made from Slack offers (SPEC 5.1)."""
    who = f" by <@{by_user}>" if by_user else ""
    blocks = [
        section(
            f":white_check_mark: *{ref_label('followup', follow_up_id)}* "
            f"~{escape(title)}~ done{who}."
        )
    ]
    if change_id:
        blocks.append(
            actions(button("Undo", UNDO_ACTION, change_id), block_id=f"receipt:{change_id}")
        )
    return blocks


def reminder_snoozed_blocks(
    *, follow_up_id: int, title: str, until: datetime, subject: str
) -> list[Block]:
    """Snoozed: say until when, keep Done (finishing early is common) and Open."""
    fid = str(follow_up_id)
    return [
        section(
            f":zzz: *{ref_label('followup', follow_up_id)}* {escape(title)} on "
            f"{escape(subject)}\nSnoozed until {when(until)}; I'll remind you then."
        ),
        actions(
            button("Done", DONE, fid, style="primary"),
            button("Open", OPEN, fid),
            block_id=f"followup_reminder:{fid}",
        ),
    ]


def _lines(items: Sequence[DigestItem]) -> str:
    shown = [
        f"• *{ref_label('followup', i.follow_up_id)}* {escape(i.title)} · due "
        f"{when(i.due_at, '{date_short} {time}')} · "
        f"{ref_label(i.subject_type, i.subject_id)}"
        + (" :red_circle:" if i.priority == "high" else "")
        for i in items[:MAX_LINES]
    ]
    if len(items) > MAX_LINES:
        shown.append(f"_and {len(items) - MAX_LINES} more: `/crm followups`_")
    return "\n".join(shown)


def daily_digest_blocks(digest: DailyDigest) -> list[Block]:
    """One DM a working morning: overdue first (they are the urgent ones), then today."""
    blocks: list[Block] = [header(f"Your follow-ups for {digest.day:%a %d %b}")]
    if digest.overdue:
        blocks.append(section(f"*Overdue ({len(digest.overdue)})*\n{_lines(digest.overdue)}"))
    if digest.today:
        blocks.append(section(f"*Due today ({len(digest.today)})*\n{_lines(digest.today)}"))
    blocks.append(context("`/crm followups` lists them all; `/crm followup done F9` closes one."))
    return blocks


def daily_digest_text(digest: DailyDigest) -> str:
    return f"{len(digest.overdue)} overdue and {len(digest.today)} due today"


def _money(amount: Decimal | None, currency: str) -> str:
    return f"{currency} {amount or 0:,.0f}"


def _slip(deal: dict[str, object]) -> str:
    """A close date that passed, or one moved later this week (``moved_from``)."""
    if deal.get("moved_from"):
        to = deal["expected_close_date"] or "no date"
        return f"close date moved {deal['moved_from']} → {to}"
    return f"close date {deal['expected_close_date']} passed"


def _change(now: Decimal, before: Decimal, currency: str) -> str:
    delta = now - before
    if not delta:
        return "no change"
    sign = "+" if delta > 0 else "−"
    return f"{sign}{_money(abs(delta), currency)}"


def stage_week_text(digest: WeeklyDigest) -> str:
    """Open deals per stage with their weighted value, and the change since last week."""
    lines = ["*Open pipeline* (change since last week)"]
    total = [0, Decimal(0), Decimal(0), 0, Decimal(0), Decimal(0)]
    for s in digest.stages:
        values = (s.count, s.amount, s.weighted, s.count_before, s.amount_before, s.weighted_before)
        total = [a + b for a, b in zip(total, values, strict=True)]
        if s.count or s.count_before:
            lines.append(_stage_line(s.stage.replace("_", " ").capitalize(), values, digest))
    lines.append(_stage_line("*Total*", tuple(total), digest))
    return "\n".join(lines)


def _stage_line(label: str, v: tuple, digest: WeeklyDigest) -> str:  # type: ignore[type-arg]
    count, amount, weighted, count_before, amount_before, weighted_before = v
    moved = count - count_before
    deals = f"{count} deal{'s' if count != 1 else ''}" + (f" ({moved:+d})" if moved else "")
    return (
        f"• {label}: {deals} · {_money(amount, digest.currency)} "
        f"({_change(amount, amount_before, digest.currency)}) · weighted "
        f"{_money(weighted, digest.currency)} "
        f"({_change(weighted, weighted_before, digest.currency)})"
    )


def weekly_digest_blocks(digest: WeeklyDigest) -> list[Block]:
    """The Monday pipeline digest for the company's channel."""
    blocks: list[Block] = [header(f"Pipeline week {digest.week}")]
    if any(s.count or s.count_before for s in digest.stages):
        blocks.append(section(stage_week_text(digest)))
    if digest.empty:
        blocks.append(
            section("A quiet week: no stage moves, no slipped or stale deals, nothing overdue.")
        )
        return blocks
    if digest.stage_move_count:
        lines = [
            f"• *{ref_label('opportunity', m['id'])}* {escape(str(m['name']))}: "
            f"{m['from']} → {m['to']}"
            for m in digest.stage_moves
        ]
        more = digest.stage_move_count - len(digest.stage_moves)
        if more > 0:
            lines.append(f"_and {more} more_")
        blocks.append(
            section(f"*Stage moves this week ({digest.stage_move_count})*\n" + "\n".join(lines))
        )
    if digest.slipped:
        lines = [
            f"• *{ref_label('opportunity', d['id'])}* {escape(str(d['name']))}: "
            + _slip(d)
            + f" · {_money(d['amount'], digest.currency)}"  # type: ignore[arg-type]
            + (f" · {escape(str(d['assignee']))}" if d["assignee"] else "")
            for d in digest.slipped
        ]
        blocks.append(section("*Close dates that slipped*\n" + "\n".join(lines)))
    if digest.stale:
        lines = [
            f"• *{ref_label('opportunity', d['id'])}* {escape(str(d['name']))}: "
            f"no activity since {d['last_activity']:%Y-%m-%d}"  # type: ignore[str-format]
            + (f" · {escape(str(d['assignee']))}" if d["assignee"] else "")
            for d in digest.stale
        ]
        blocks.append(section("*No activity for 14 days*\n" + "\n".join(lines)))
    if digest.overdue_by_rep:
        lines = [f"• <@{r['slack_user_id']}>: {r['count']} overdue" for r in digest.overdue_by_rep]
        blocks.append(section("*Overdue follow-ups per rep*\n" + "\n".join(lines)))
    if digest.slipping_customers:
        lines = [
            f"• *{ref_label('customer', c['id'])}* {escape(str(c['name']))}: probability alive "
            f"{c['p_alive']:.0%} · predicted 12 months {_money(c['predicted_clv'], digest.currency)}"  # type: ignore[arg-type]
            for c in digest.slipping_customers
        ]
        blocks.append(
            section(
                "*Customers slipping away (probability alive fell below 50%)*\n" + "\n".join(lines)
            )
        )
    if digest.campaigns:
        lines = [f"• {line}" for line in digest_lines(digest.campaigns, digest.currency)]
        blocks.append(section("*Campaigns last week*\n" + "\n".join(lines)))
    return blocks


def weekly_digest_text(digest: WeeklyDigest) -> str:
    return f"Pipeline week {digest.week}"
