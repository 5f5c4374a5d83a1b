"""``/crm insight`` (SPEC 13): for managers, the lead score's calibration plot (a matplotlib
PNG posted like the pipeline chart) with its table and Brier scores, and how fresh the
lifetime-value fit is. Reads the stored models; builds the lead-score model first only when
the company has none yet."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.blocks.common import Block, context, ephemeral
from bot.blocks.insight import calibration_blocks
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.pipeline import ChartResult, post_chart
from crm import permissions
from crm.acting import Actor
from crm.models import Company

if TYPE_CHECKING:
    from crm.insight.leadscore import Calibration

log = logging.getLogger(__name__)

CHART_FILE = "lead-score-calibration.png"


def _clv_line(company_id: int) -> Block:
    from crm.insight import clv

    fit = clv.latest_fit(company_id)
    if fit is None:
        return context(":crystal_ball: Lifetime-value predictions: not fitted yet (nightly).")
    if fit.params is None:
        text = clv.not_enough_text(fit.informative, fit.needed)
        return context(f":crystal_ball: Lifetime-value predictions: {text}.")
    return context(
        f":crystal_ball: Lifetime-value predictions fitted {fit.fitted_at:%Y-%m-%d %H:%M} UTC on "
        f"{fit.sample_size} customers ({fit.informative} with a repeat purchase)."
    )


def _draw(report: Calibration, title: str) -> bytes:
    from bot import charts  # matplotlib loads with the first chart

    points = [(d.predicted, d.observed, d.count) for d in report.deciles]
    return charts.calibration_chart(
        points, title=title, brier=report.brier, base_brier=report.base_brier
    )


@handles("insight")
def insight(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    permissions.require(actor, "team_analytics")
    from crm.insight import leadscore  # numpy loads with the first use, not at web start-up

    company: Company = ctx.company
    if leadscore.latest_model(company.id) is None:
        leadscore.rebuild_scores(company)
    report = leadscore.calibration(company)
    blocks = calibration_blocks(report, leadscore.not_enough_leads_text(company.id))
    if report is not None:
        title = "Lead score calibration"
        try:
            png = _draw(report, title)
        except Exception:  # a drawing bug must not cost the manager the table
            log.exception("request %s: the calibration plot could not be drawn", ctx.request_id)
            result = ChartResult(None, False, "the plot could not be drawn")
        else:
            text = f"{title}: Brier {report.brier:.3f}, base rate {report.base_brier:.3f}"
            result = post_chart(ctx.client, channel_id=ctx.channel_id, user_id=ctx.user_id,
                                png=png, title=title, text=text, filename=CHART_FILE)  # fmt: skip
        if result.channel is not None:
            where = (
                "sent to you as a direct message"
                if result.direct
                else f"posted in <#{result.channel}>"
            )
            blocks.append(context(f":frame_with_picture: Calibration plot {where}"))
        else:
            blocks.append(context(f":warning: The plot could not be uploaded ({result.error})"))
    blocks.append(_clv_line(company.id))
    return ephemeral(blocks, "Lead score calibration")
