"""What the record commands (leads, opportunities, follow-ups, customers) share: whose list a
``mine|@user|team`` word asks for, the answer to a write, field names as members typed them,
and the registry of paged lists that the "Next page" button runs again."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from bot.blocks.common import context, ephemeral, escape, receipt, section
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply
from bot.listeners.commands.values import member_id
from crm.acting import Actor
from crm.errors import ValidationError

Pager = Callable[[Command, Actor, CommandContext, int], Reply]
PAGERS: dict[tuple[str, str], Pager] = {}


def pager(noun: str, verb: str = "") -> Callable[[Pager], Pager]:
    """Register the page function of a list command, for :mod:`bot.listeners.actions.pages`."""

    def register(fn: Pager) -> Pager:
        PAGERS[(noun, verb)] = fn
        return fn

    return register


def whose(cmd: Command, ctx: CommandContext, default_mine: bool = False) -> int | None:
    """The member a list is narrowed to: ``mine`` is the caller, ``@user`` that member,
    ``team`` (or nothing, unless ``default_mine``) everyone."""
    who = cmd.args.get("who")
    if who == "mine":
        return ctx.member.id
    if who == "team":
        return None
    if who is None or who == "overdue":
        return ctx.member.id if default_mine else None
    return member_id(ctx, who, "who")


def written(
    label: str,
    title: str,
    change_id: str | None,
    verb: str,
    fallback: str,
    *,
    detail: str | None = None,
) -> Reply:
    """The receipt of a write (names the record, offers Undo); a write that changed nothing
    (a double click, the stage it already has) says so and offers nothing to undo.
    ``detail`` is extra mrkdwn (mentions, dates) shown under the receipt line."""
    if not change_id:
        line = f":information_source: *{escape(label)}* {escape(title)}: {escape(fallback)}"
        return ephemeral([section(line)], f"{label} {title}: {fallback}")
    blocks = receipt(label, title, change_id, verb=verb)
    if detail:
        blocks.insert(1, context(detail))
    return ephemeral(blocks, f"{verb} {label} {title}")


@contextlib.contextmanager
def as_typed(names: dict[str, str]) -> Iterator[None]:
    """Report a service's field under the option the member typed (``close_date`` ->
    ``date``), so the message names what they can fix."""
    try:
        yield
    except ValidationError as e:
        typed = names.get(e.field or "")
        if typed is None:
            raise
        message = e.message.removeprefix(f"{e.field}: ")
        if e.hint:
            message = message.removesuffix(f"; try {e.hint}")
        raise ValidationError(typed, message, hint=e.hint) from None
