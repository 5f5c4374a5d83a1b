"""Command words -> service arguments, for handlers (the adapter half of SPEC 5.1).

Values are parsed with :mod:`crm.parsing` under the option names members typed, so an error
reads ``value: "12x" is not an amount; try value=12000 or value=12k``.
"""

from __future__ import annotations

import re

from bot.context import member_for
from bot.listeners.commands.crm import CommandContext
from crm.errors import ValidationError
from crm.parsing import parse_ref

_SLACK_USER_RE = re.compile(r"[UW][A-Z0-9]{2,}")


def ref_id(text: str, kind: str, field: str = "ref") -> int:
    """The id behind ``L12`` when a ``kind`` (lead, customer, ...) is expected."""
    return parse_ref(text, field, kinds=(kind,)).id


def member_id(ctx: CommandContext, value: str, field: str = "assign") -> int:
    """The member behind ``@someone`` (``U123`` after the grammar unwrapped Slack's escape);
    a colleague who never used the bot becomes a member here (from ``users.info``)."""
    if value.lower() == "me" or value.lower() == "mine":
        return ctx.member.id
    if not _SLACK_USER_RE.fullmatch(value):
        raise ValidationError(
            field,
            f'"{value[:40]}" is not a Slack user',
            hint=f"{field}=@someone, picking them from the list Slack offers as you type",
        )
    return member_for(ctx.client, ctx.company, value).id
