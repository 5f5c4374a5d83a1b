"""Block Kit for ``/crm pipeline`` (SPEC 7): the open pipeline per stage, velocity and win/loss.

Plain functions from the analytics results to dicts. The same blocks serve the member's
ephemeral answer (with a "Share in channel" button) and the message posted to the channel
(without it). Money is formatted in the company's currency with
:func:`crm.parsing.format_money`, so Slack shows the same figures as the CLI and the API.
"""

from __future__ import annotations

from decimal import Decimal

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    divider,
    escape,
    fields_section,
    section,
)
from crm.analytics import GroupStats, PipelineSummary, Velocity, WinLoss
from crm.parsing import format_money

__all__ = [
    "SHARE_ACTION",
    "chart_note",
    "pipeline_blocks",
    "pipeline_text",
    "stage_name",
    "text_bars",
]

SHARE_ACTION = "pipeline_share"
BAR_WIDTH = 20


def stage_name(stage: str) -> str:
    return stage.replace("_", " ").capitalize()


def _money(amount: Decimal | None, currency: str) -> str:
    return "—" if amount is None else format_money(amount, currency)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _deals(count: int) -> str:
    return f"{count} deal{'' if count == 1 else 's'}"


def _days(days: float | None) -> str:
    return "—" if days is None else f"{days:.1f} days"


def pipeline_text(title: str, summary: PipelineSummary, currency: str) -> str:
    """The notification fallback: one line a screen reader or a phone banner can carry."""
    return (
        f"{title}: {summary.count} open deals, {_money(summary.amount, currency)} total, "
        f"{_money(summary.weighted_amount, currency)} weighted"
    )


def _stage_lines(summary: PipelineSummary, currency: str) -> str:
    lines = []
    for s in summary.stages:
        lines.append(
            f"*{stage_name(s.stage)}* · {_deals(s.count)} · {_money(s.amount, currency)} total · "
            f"{_money(s.weighted_amount, currency)} weighted"
        )
    lines.append(
        f"*Total* · {_deals(summary.count)} · {_money(summary.amount, currency)} total · "
        f"{_money(summary.weighted_amount, currency)} weighted"
    )
    return "\n".join(lines)


def text_bars(summary: PipelineSummary) -> str:
    """The chart as text (the fallback when the picture cannot be uploaded): one bar per stage,
    scaled to the largest stage total, weighted part shaded darker."""
    largest = max((s.amount for s in summary.stages), default=Decimal(0))
    rows = []
    for s in summary.stages:
        total = 0 if not largest else round(BAR_WIDTH * s.amount / largest)
        weighted = 0 if not largest else round(BAR_WIDTH * s.weighted_amount / largest)
        weighted = min(weighted, total)
        bar = "█" * weighted + "░" * (total - weighted)
        rows.append(f"{stage_name(s.stage):<14}{bar}")
    return "```\n" + "\n".join(rows) + "\n```"


def pipeline_blocks(
    *,
    title: str,
    summary: PipelineSummary,
    speed: Velocity,
    outcome: WinLoss,
    currency: str,
    share_value: str | None = None,
    note: Block | None = None,
) -> list[Block]:
    """The summary; ``share_value`` adds the "Share in channel" button, ``note`` a block about
    the chart (where it went, or the text chart and why the picture is missing)."""
    total = outcome.total
    blocks: list[Block] = [
        section(f":bar_chart: *{title}* · open deals now"),
        section(_stage_lines(summary, currency)),
        divider(),
        fields_section(
            [
                ("Velocity", f"{_money(speed.per_day, currency)} per day"),
                (
                    "Win rate",
                    f"{_percent(total.win_rate_count)} by count · "
                    f"{_percent(total.win_rate_value)} by value",
                ),
                ("Won", f"{_deals(total.won_count)} · {_money(total.won_amount, currency)}"),
                ("Lost", f"{_deals(total.lost_count)} · {_money(total.lost_amount, currency)}"),
                ("Average won deal", _money(speed.average_won_amount, currency)),
                (
                    "Average cycle",
                    f"won {_days(outcome.avg_cycle_days_won)} · "
                    f"lost {_days(outcome.avg_cycle_days_lost)}",
                ),
            ]
        ),
    ]
    if outcome.top_loss_reasons:
        reasons = " · ".join(
            f"{escape(r.reason[:60])} ({r.count})" for r in outcome.top_loss_reasons
        )
        blocks.append(context(f"Top loss reasons: {reasons}"))
    blocks.append(
        context(
            f"Velocity and win/loss over the last {outcome.period_days} days · "
            f"amounts in {currency}"
        )
    )
    if note is not None:
        blocks.append(note)
    if share_value is not None:
        blocks.append(actions(button("Share in channel", SHARE_ACTION, share_value)))
    return blocks


def chart_note(
    *, channel: str | None, direct: bool, error: str | None, summary: PipelineSummary
) -> Block:
    """Where the chart went, or the text chart and why the picture is missing."""
    if channel is not None:
        where = "sent to you as a direct message" if direct else f"posted in <#{channel}>"
        return context(f":frame_with_picture: Chart {where}")
    return section(
        f":warning: The chart could not be uploaded ({escape(error or 'unknown error')}); "
        f"here it is as text:\n{text_bars(summary)}"
    )


def _group_line(stats: GroupStats, name: str, currency: str) -> str:
    return (
        f"• {name}: {_percent(stats.win_rate_count)} by count · "
        f"{_percent(stats.win_rate_value)} by value · won {stats.won_count} "
        f"({_money(stats.won_amount, currency)}) · lost {stats.lost_count} "
        f"({_money(stats.lost_amount, currency)})"
    )


def winloss_blocks(
    title: str, outcome: WinLoss, people: dict[int, str], currency: str
) -> list[Block]:
    """``/crm pipeline winloss``: the deals closed in the period, by member (as mentions) and
    by lead source, the top loss reasons and the average cycle of each outcome."""
    total = outcome.total
    blocks: list[Block] = [
        section(
            f":trophy: *{title} deals won and lost* · last {outcome.period_days} days\n"
            + _group_line(total, "Everyone", currency).removeprefix("• ")
        ),
    ]
    if not (total.won_count or total.lost_count):
        blocks.append(context("No deal was won or lost in this period."))
        return blocks
    members = [
        _group_line(
            g,
            f"<@{people[g.key]}>" if isinstance(g.key, int) and g.key in people else "unassigned",
            currency,
        )
        for g in outcome.by_member
    ]
    blocks.append(section("*By member*\n" + "\n".join(members[:20])))
    sources = [
        _group_line(g, escape(str(g.label).replace("_", " ")), currency) for g in outcome.by_source
    ]
    blocks.append(section("*By lead source*\n" + "\n".join(sources[:20])))
    if outcome.top_loss_reasons:
        lines = [
            f"{n}. {escape(r.reason[:80])}: {_deals(r.count)} · {_money(r.amount, currency)}"
            for n, r in enumerate(outcome.top_loss_reasons, start=1)
        ]
        blocks.append(section("*Top loss reasons*\n" + "\n".join(lines)))
    blocks.append(
        context(
            f"Average cycle: won {_days(outcome.avg_cycle_days_won)} · "
            f"lost {_days(outcome.avg_cycle_days_lost)} · amounts in {currency}"
        )
    )
    return blocks
