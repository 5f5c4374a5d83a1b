"""Lists in messages (``/crm lead list``, ``/crm opp list``, ``/crm followups``) and the
activity part of record cards (recent communications, open follow-ups).

Slack caps a message at 50 blocks and a section's text at 3000 characters, so a list shows
:data:`PAGE_SIZE` rows per message: plain rows are packed into as few sections as fit, a row
with a button gets its own section, and a "Next page" button carries the command text and the
next offset (:mod:`bot.listeners.actions.pages` answers it by running the same list again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks.common import (
    BUTTON_VALUE_LIMIT,
    SECTION_TEXT_LIMIT,
    Block,
    actions,
    button,
    context,
    escape,
    section,
    truncate,
)
from bot.blocks.followups import DONE, when
from crm.cards import Card
from crm.followups import effective_status
from crm.models import Communication, FollowUp
from crm.tenancy import ref_label

PAGE_SIZE = 20
PAGE_ACTION = "list_page"
_ICONS = {
    "call": ":telephone_receiver:",
    "email": ":email:",
    "meeting": ":handshake:",
    "note": ":memo:",
    "sms": ":speech_balloon:",
    "message": ":speech_balloon:",
}


@dataclass(frozen=True)
class Row:
    """One line of a list; with ``accessory`` (a button) it gets a section of its own."""

    text: str
    accessory: Block | None = None


def page_value(text: str, offset: int) -> str | None:
    """The "Next page" button's value: the command to run again and where to start; None if
    the command is too long to fit in a button (the member narrows the list instead)."""
    value = json.dumps({"t": text, "o": offset}, ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None


def read_page_value(value: str) -> tuple[str, int] | None:
    try:
        data = json.loads(value)
        text, offset = data["t"], data["o"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(text, str) or isinstance(offset, bool) or not isinstance(offset, int):
        return None
    return (text, offset) if offset >= 0 else None


def _pack(rows: Sequence[Row]) -> list[Block]:
    blocks: list[Block] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            blocks.append(section("\n".join(pending)))
            pending.clear()

    for row in rows:
        line = truncate(row.text, SECTION_TEXT_LIMIT)
        if row.accessory is not None:
            flush()
            blocks.append(section(line, accessory=row.accessory))
        elif sum(len(p) + 1 for p in pending) + len(line) > SECTION_TEXT_LIMIT:
            flush()
            pending.append(line)
        else:
            pending.append(line)
    flush()
    return blocks


def paged_list(
    title: str,
    rows: Sequence[Row],
    *,
    offset: int,
    has_more: bool,
    command_text: str,
    empty: str,
    hint: str | None = None,
) -> list[Block]:
    """A page of a list: the title with the range shown, the rows (at most
    :data:`PAGE_SIZE`), and "Next page" when ``has_more``."""
    if not rows:
        shown = "nothing more" if offset else escape(empty)
        return [section(f"*{escape(title)}*\n{shown}")]
    shown = rows[:PAGE_SIZE]
    first, last = offset + 1, offset + len(shown)
    blocks: list[Block] = [section(f"*{escape(title)}* ({first}-{last})")]
    blocks += _pack(shown)
    if hint:
        blocks.append(context(hint))
    if has_more:
        value = page_value(command_text, offset + PAGE_SIZE)
        if value is None:
            blocks.append(context("There are more; narrow the list to see them."))
        else:
            blocks.append(actions(button("Next page", PAGE_ACTION, value), block_id=f"page:{last}"))
    return blocks


# --- activity on cards -------------------------------------------------------------------------


def person(slack_user_id: str | None, nobody: str = "nobody") -> str:
    return f"<@{slack_user_id}>" if slack_user_id else nobody


def communication_line(comm: Communication, author: str | None) -> str:
    icon = _ICONS.get(comm.type, ":memo:")
    way = "in" if comm.direction == "inbound" else "out"
    extra = f" · {comm.duration_minutes} min" if comm.duration_minutes else ""
    text = comm.subject or comm.content or ""
    quoted = f": {escape(truncate(' '.join(text.split()), 200))}" if text else ""
    return (
        f"{icon} {comm.type} ({way}){extra} · "
        f"{when(comm.communicated_at, '{date_short} {time}')} · {person(author, 'someone')}"
        f"{quoted}"
    )


def follow_up_row(fu: FollowUp, assignee: str | None, *, with_subject: bool = True) -> Row:
    """A follow-up with its Done button (the reminder's own action, so one handler serves
    the DM, lists and cards)."""
    status = effective_status(fu)
    flag = " :red_circle:" if fu.priority == "high" else ""
    late = " · *overdue*" if status == "overdue" else ""
    on = f" · on {ref_label(fu.followable_type, fu.followable_id)}" if with_subject else ""
    text = (
        f"*{ref_label('followup', fu.id)}* {escape(fu.title)}{flag}\n"
        f"due {when(fu.due_at, '{date_short} {time}')}{late}{on} · {person(assignee)}"
    )
    open_ = status in ("pending", "overdue")
    accessory = button("Done", DONE, str(fu.id), style="primary") if open_ else None
    if not open_:
        text += f" · {status}"
    return Row(text, accessory)


def activity_blocks(card: Card) -> list[Block]:
    """Recent communications and open follow-ups of a card (at most a dozen blocks)."""
    blocks: list[Block] = []
    if card.communications:
        lines = [communication_line(c, card.person(c.author_id)) for c in card.communications]
        blocks.append(section("*Recent communications*\n" + "\n".join(lines)))
    else:
        blocks.append(context(f'No communications yet: `/crm log call {card.ref} "..."`'))
    if card.follow_ups:
        blocks.append(section("*Open follow-ups*"))
        blocks += _pack(
            [
                follow_up_row(f, card.person(f.assigned_to_id), with_subject=False)
                for f in card.follow_ups
            ]
        )
    else:
        blocks.append(context(f'No open follow-ups: `/crm followup {card.ref} "..." due=tomorrow`'))
    return blocks
