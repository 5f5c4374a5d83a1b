"""App Home (SPEC 5.2): the member's overdue and upcoming follow-ups with Done / Snooze, their
open opportunities, and for managers and admins the team's pipeline at a glance.

A pure function of :class:`HomeData` (gathered by :mod:`bot.home_refresh`). Slack caps a Home
view at 100 blocks; each follow-up takes two (its line and its buttons), so the sections are
capped and point to ``/crm followups`` and ``/crm opp list`` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    divider,
    escape,
    fields_section,
    header,
    section,
)
from bot.blocks.followups import DONE, snooze_buttons, when
from bot.blocks.leads import OPEN_RECORD
from bot.blocks.opportunities import STAGE_LABELS
from crm.analytics import PipelineSummary
from crm.models import FollowUp, Opportunity
from crm.parsing import format_money
from crm.tenancy import ref_label

__all__ = ["MAX_FOLLOW_UPS", "MAX_OPPORTUNITIES", "VIEW_BLOCK_LIMIT", "HomeData", "home_view"]

MAX_FOLLOW_UPS = 10  # per section (overdue, upcoming): 2 blocks each
MAX_OPPORTUNITIES = 10
VIEW_BLOCK_LIMIT = 100


@dataclass(frozen=True)
class HomeData:
    """Everything the Home tab shows; lists may hold one more than shown (to say "more")."""

    overdue: list[FollowUp]
    upcoming: list[FollowUp]
    opportunities: list[Opportunity]
    mine: PipelineSummary
    team: PipelineSummary | None  # None: the member may not see team analytics
    currency: str
    now: datetime


def follow_up_blocks(fu: FollowUp, *, overdue: bool) -> list[Block]:
    """A follow-up line and its buttons (the reminder DM's own action ids, so the same
    services answer; the Home variants of the listeners re-publish this view)."""
    fid = str(fu.id)
    subject = ref_label(fu.followable_type, fu.followable_id)
    flag = " :red_circle:" if fu.priority == "high" else ""
    late = " · *overdue*" if overdue else ""
    text = f"*{ref_label('followup', fu.id)}* {escape(fu.title)}{flag}\nDue {when(fu.due_at)}{late} · on {subject}"
    buttons = [button("Done", DONE, fid, style="primary")]
    buttons += snooze_buttons(fid)
    buttons.append(button(f"Open {subject}", OPEN_RECORD, subject))
    return [section(text), actions(*buttons, block_id=f"home_followup:{fid}")]


def _follow_up_section(
    title: str, items: list[FollowUp], *, overdue: bool, empty: str
) -> list[Block]:
    shown = items[:MAX_FOLLOW_UPS]
    if not shown:
        return [section(f"*{title}*\n{empty}")]
    more = "+" if len(items) > MAX_FOLLOW_UPS else ""
    blocks: list[Block] = [section(f"*{title} ({len(shown)}{more})*")]
    for fu in shown:
        blocks += follow_up_blocks(fu, overdue=overdue)
    if more:
        blocks.append(context("More in `/crm followups`."))
    return blocks


def opportunity_line(opp: Opportunity, currency: str) -> Block:
    label = ref_label("opportunity", opp.id)
    parts = [
        f"*{label}* {escape(opp.name)}",
        STAGE_LABELS.get(opp.stage, opp.stage),
        f"{format_money(opp.amount, currency)} ({opp.probability}%)",
    ]
    if opp.expected_close_date:
        parts.append(f"close {opp.expected_close_date}")
    return section(" · ".join(parts), accessory=button("Open", OPEN_RECORD, label))


def _totals(summary: PipelineSummary, currency: str) -> str:
    return (
        f"{summary.count} open · {format_money(summary.amount, currency)} · "
        f"weighted {format_money(summary.weighted_amount, currency)}"
    )


def team_pipeline_blocks(summary: PipelineSummary, currency: str) -> list[Block]:
    """The team's open pipeline per stage: count, amount and weighted amount (rule 2)."""
    pairs = [
        (
            STAGE_LABELS.get(s.stage, s.stage),
            f"{s.count} · {format_money(s.amount, currency)}\n"
            f"weighted {format_money(s.weighted_amount, currency)}",
        )
        for s in summary.stages
    ]
    return [
        header("Team pipeline"),
        fields_section(pairs),
        context(f"Total: {_totals(summary, currency)} · `/crm pipeline team` for the chart"),
    ]


def home_view(data: HomeData) -> dict:
    blocks: list[Block] = [
        header("Your CRM"),
        context(f"Updated {when(data.now, '{date_short_pretty} at {time}')}"),
    ]
    blocks += _follow_up_section(
        "Overdue follow-ups", data.overdue, overdue=True, empty="Nothing overdue. :tada:"
    )
    if len(data.overdue) > MAX_FOLLOW_UPS:
        blocks.append(context("Upcoming follow-ups are in `/crm followups`; overdue ones first."))
    else:
        blocks += _follow_up_section(
            "Upcoming follow-ups",
            data.upcoming,
            overdue=False,
            empty='Nothing scheduled: `/crm followup L12 "Call back" due=tomorrow`',
        )
    blocks.append(divider())
    opps = data.opportunities[:MAX_OPPORTUNITIES]
    blocks.append(section(f"*Your open opportunities*\n{_totals(data.mine, data.currency)}"))
    blocks += [opportunity_line(o, data.currency) for o in opps]
    if not opps:
        blocks.append(context("None open: `/crm opp` creates one."))
    elif len(data.opportunities) > MAX_OPPORTUNITIES:
        blocks.append(context("More in `/crm opp list mine`."))
    if data.team is not None:
        blocks.append(divider())
        blocks += team_pipeline_blocks(data.team, data.currency)
    return {"type": "home", "blocks": blocks[:VIEW_BLOCK_LIMIT]}
