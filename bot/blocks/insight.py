"""Block Kit for insight (SPEC 13): the predicted figures on a customer card, the lead score
with the fields that moved it, and the ``/crm insight`` answer. Plain functions, no queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.blocks.common import Block, context, escape, fields_section, section
from crm.parsing import format_money

if TYPE_CHECKING:  # the model modules load numpy and scipy: not at web start-up
    from crm.insight.clv import CustomerOutlook
    from crm.insight.leadscore import Calibration, LeadExplanation

# how a feature value reads on a card ("email known: yes" -> "email known")
_ARROWS = {True: ":arrow_up_small:", False: ":arrow_down_small:"}


def customer_outlook_blocks(outlook: CustomerOutlook | None, currency: str) -> list[Block]:
    """Beside the historic figures: P(alive), expected purchases in 90 days and the predicted
    12-month value, with how fresh the fit is; or "not enough history"."""
    if outlook is None:
        return []
    fit = outlook.fit
    if outlook.message is not None:
        return [context(f":crystal_ball: Predictions: {escape(outlook.message)}")]
    prediction = outlook.prediction
    if prediction is None:
        return [context(":crystal_ball: Predictions start with the customer's first purchase.")]
    return [
        fields_section(
            [
                ("Probability alive", f"{prediction.p_alive:.0%}"),
                ("Expected purchases (90 days)", f"{prediction.expected_purchases:.1f}"),
                ("Predicted value (12 months)", format_money(prediction.predicted_clv, currency)),
            ]
        ),
        context(
            f":crystal_ball: BG/NBD + Gamma-Gamma fitted {fit.fitted_at:%Y-%m-%d} on "
            f"{fit.sample_size} customers ({fit.informative} with a repeat purchase), orders "
            f"to {fit.data_until:%Y-%m-%d}"
        ),
    ]


def _reason(effect: dict) -> str:
    field, value = effect["field"], effect["value"]
    if field == "assignee" and str(value).startswith("U"):
        value = f"<@{value}>"
    else:
        value = escape(str(value))
    return f"{field} {value}"


def lead_score_blocks(explained: LeadExplanation | None) -> list[Block]:
    if explained is None:
        return []
    if explained.score is None:
        return [context(f":crystal_ball: Lead score: {escape(explained.message or '')}")]
    lines = [f":crystal_ball: *Lead score {explained.score}/100* (chance of being won)"]
    if explained.up:
        lines.append(f"{_ARROWS[True]} " + ", ".join(_reason(e) for e in explained.up))
    if explained.down:
        lines.append(f"{_ARROWS[False]} " + ", ".join(_reason(e) for e in explained.down))
    fitted = f"{explained.fitted_at:%Y-%m-%d}" if explained.fitted_at else "—"
    return [
        section("\n".join(lines)),
        context(f"naive Bayes over {explained.closed} closed leads, rebuilt {fitted}"),
    ]


def calibration_blocks(report: Calibration | None, message: str | None) -> list[Block]:
    """The text beside (or instead of) the calibration plot."""
    if report is None:
        return [section(f":crystal_ball: Lead score: {escape(message or 'no model yet')}")]
    rows = "\n".join(
        f"decile {d.decile}: {d.count} leads · predicted {d.predicted:.0%} · won {d.observed:.0%}"
        for d in report.deciles
    )
    return [
        section(
            f":crystal_ball: *Lead score calibration* ({report.closed} closed leads, each "
            "scored by a model fitted without it)"
        ),
        section(f"```{rows}```"),
        context(
            f"Brier score {report.brier:.3f} · base rate {report.base_rate:.0%} scores "
            f"{report.base_brier:.3f} · lower is better"
        ),
    ]
