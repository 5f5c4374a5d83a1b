"""``/crm followup ...`` and ``/crm followups``: set a follow-up on a lead, customer or
opportunity, act on one (done, cancel, snooze), list them overdue first. Rendering and the
Done button are the reminder DM's own (:mod:`bot.blocks.followups`), so one handler serves
every place a follow-up shows up."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import ephemeral
from bot.blocks.followups import when
from bot.blocks.lists import PAGE_SIZE, follow_up_row, paged_list
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.listing import as_typed, pager, whose, written
from bot.listeners.commands.log import SUBJECT_KINDS
from bot.listeners.commands.values import member_id, ref_id
from crm import cards, followups
from crm.acting import Actor
from crm.parsing import parse_datetime, parse_ref
from crm.tenancy import ref_label


def _label(fid: int) -> str:
    return ref_label("followup", fid)


@handles("followup", "add")
def add(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    subject = parse_ref(cmd.args["ref"], "ref", kinds=SUBJECT_KINDS)
    o = cmd.options
    due = parse_datetime(o["due"], "due", actor.tz)
    extra: dict[str, Any] = {"priority": o["priority"]} if "priority" in o else {}
    whom = ctx.user_id
    if "assign" in o:
        extra["assigned_to_id"] = member_id(ctx, o["assign"], "assign")
        if o["assign"].lower() not in ("me", "mine"):
            whom = o["assign"]
    fu = followups.create_follow_up(
        actor,
        subject_type=subject.kind,
        subject_id=subject.id,
        title=cmd.args["title"],
        due_at=due,
        **extra,
    )
    return written(
        _label(fu.id),
        fu.title,
        fu.change_id,
        "Created",
        "nothing changed",
        detail=f"on {subject} · due {when(fu.due_at)} · {fu.priority} priority · for <@{whom}>",
    )


@handles("followup", "done")
def done(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    fu = followups.complete_follow_up(
        actor, ref_id(cmd.args["ref"], "followup"), cmd.args.get("notes")
    )
    return written(_label(fu.id), fu.title, fu.change_id, "Completed", "nothing changed")


@handles("followup", "cancel")
def cancel(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    fu = followups.cancel_follow_up(actor, ref_id(cmd.args["ref"], "followup"))
    return written(_label(fu.id), fu.title, fu.change_id, "Cancelled", "nothing changed")


@handles("followup", "snooze")
def snooze(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    """``1d``, ``2h``, ``tomorrow 9am``: read like any due time (``in`` optional)."""
    until = parse_datetime(cmd.args["delay"], "delay", actor.tz)
    with as_typed({"until": "delay"}):
        fu = followups.snooze_follow_up(actor, ref_id(cmd.args["ref"], "followup"), until)
    return written(
        _label(fu.id),
        fu.title,
        fu.change_id,
        "Snoozed",
        "nothing changed",
        detail=f"no reminder until {when(until)}; still due {when(fu.due_at)}",
    )


@handles("followups")
def list_follow_ups(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return follow_up_page(cmd, actor, ctx, 0)


@pager("followups")
def follow_up_page(cmd: Command, actor: Actor, ctx: CommandContext, offset: int) -> Reply:
    """``mine`` (the default) and ``overdue`` are the caller's, ``@user`` someone's,
    ``team`` the whole company's; open ones only, overdue first."""
    who = cmd.args.get("who")
    assignee = whose(cmd, ctx, default_mine=True)
    found = followups.list_follow_ups(
        actor,
        assigned_to_id=assignee,
        team=assignee is None,
        only="overdue" if who == "overdue" else "open",
        limit=PAGE_SIZE + 1,
        offset=offset,
    )
    people = cards.people_of(actor, {f.assigned_to_id for f in found})
    rows = [follow_up_row(f, people.get(f.assigned_to_id)) for f in found]
    title = {
        None: "Your open follow-ups",
        "mine": "Your open follow-ups",
        "overdue": "Your overdue follow-ups",
        "team": "The team's open follow-ups",
    }.get(who, "Their open follow-ups")
    blocks = paged_list(
        title,
        rows,
        offset=offset,
        has_more=len(found) > PAGE_SIZE,
        command_text=cmd.text,
        empty="Nothing open. :tada:",
        hint='`/crm followup done F9 "notes"` closes one; `/crm followup snooze F9 1d`.',
    )
    return ephemeral(blocks, f"{title}: {len(rows[:PAGE_SIZE])}")
