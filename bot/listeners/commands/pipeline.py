"""``/crm pipeline [mine|@user|team] [period=90d]``: the summary of SPEC 7 with its chart.

Slow by nature (three grouped queries and a matplotlib drawing), so the command is acknowledged
at once and answered through ``response_url`` (the grammar row says ``slow``).

- The open pipeline is what is open *now*; ``period`` is the look-back of velocity and
  win/loss (default 90 days), as in ``crm pipeline`` on the command line.
- Reps see their own numbers; ``team`` and another member's need a manager or an admin. The
  refusal comes from :mod:`crm.permissions` (it names the role needed); it is checked before
  ``@user`` is looked up, so a refused request does not even create that member.
- The chart goes to the channel the command came from (a file in an ephemeral answer is not
  something Slack offers); where the bot cannot post, to the member's DM; where neither
  works, the answer carries the chart as text and says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.common import Block, ephemeral
from bot.blocks.pipeline import (
    chart_note,
    pipeline_blocks,
    pipeline_text,
    stage_name,
    winloss_blocks,
)
from bot.grammar import Command
from bot.listeners.commands.crm import CommandContext, Reply, handles
from bot.listeners.commands.values import member_id
from crm import permissions
from crm.acting import Actor
from crm.analytics import PipelineSummary, Velocity, WinLoss, pipeline_summary, velocity, win_loss
from crm.cards import people_of
from crm.errors import ValidationError
from crm.models import Member
from crm.parsing import parse_period
from crm.tenancy import fetch

log = logging.getLogger(__name__)

DEFAULT_PERIOD = "90d"


@dataclass(frozen=True)
class Scope:
    """Whose pipeline, over which look-back: what the Share button carries to reproduce it."""

    member_id: int | None  # None with team=False: the caller's own
    team: bool
    period_days: int

    def to_value(self) -> str:
        return json.dumps({"m": self.member_id, "t": self.team, "p": self.period_days})

    @classmethod
    def from_value(cls, text: str) -> Scope:
        """The button's value back; it comes from Slack, so it is checked like input."""
        try:
            data = json.loads(text)
            member, team, period = data["m"], data["t"], data["p"]
        except (ValueError, TypeError, KeyError):
            raise ValidationError(
                "pipeline", "that button is damaged", hint="/crm pipeline"
            ) from None
        if not (member is None or (isinstance(member, int) and not isinstance(member, bool))):
            raise ValidationError("pipeline", "that button is damaged", hint="/crm pipeline")
        if not isinstance(team, bool) or not isinstance(period, int) or isinstance(period, bool):
            raise ValidationError("pipeline", "that button is damaged", hint="/crm pipeline")
        return cls(member, team, period)


@dataclass(frozen=True)
class Analysis:
    summary: PipelineSummary
    speed: Velocity
    outcome: WinLoss


def analyse(actor: Actor, scope: Scope) -> Analysis:
    """The three analytics of SPEC 7 for one scope (each checks the actor's rights)."""
    kwargs: dict[str, Any] = {"member_id": scope.member_id, "team": scope.team}
    return Analysis(
        summary=pipeline_summary(actor, **kwargs),
        speed=velocity(actor, period_days=scope.period_days, **kwargs),
        outcome=win_loss(actor, period_days=scope.period_days, **kwargs),
    )


def titles(actor: Actor, summary: PipelineSummary, *, public: bool) -> tuple[str, str]:
    """(mrkdwn title, plain title for the chart). ``public``: the reader may not be the
    caller, so "Your pipeline" becomes the caller's name."""
    if summary.member_id is None:
        return "Team pipeline", "Team pipeline"
    if summary.member_id == actor.member_id and not public:
        return "Your pipeline", f"{actor.label}'s pipeline"
    member = fetch(Member, actor, summary.member_id, "member")
    return f"<@{member.slack_user_id}>'s pipeline", f"{member.name or 'Member'}'s pipeline"


def parse_scope(cmd: Command, actor: Actor, ctx: CommandContext) -> Scope:
    period = parse_period(cmd.options.get("period", DEFAULT_PERIOD), "period")
    who = cmd.args.get("who")
    if who is None or who == "mine":
        return Scope(None, False, period)
    if who == "team":
        return Scope(None, True, period)
    if who != ctx.user_id:
        permissions.require(actor, "team_analytics")
    return Scope(member_id(ctx, who, "who"), False, period)


@dataclass(frozen=True)
class ChartResult:
    channel: str | None  # where it was posted; None: nowhere
    direct: bool  # posted in the member's DM instead of the command's channel
    error: str | None


def _slack_error(error: Exception) -> str:
    if isinstance(error, SlackApiError) and error.response is not None:
        return str(error.response.get("error") or "error")
    return type(error).__name__


def _dm(client: WebClient, user_id: str) -> str:
    return str(client.conversations_open(users=user_id)["channel"]["id"])


def post_chart(
    client: WebClient,
    *,
    channel_id: str | None,
    user_id: str,
    png: bytes,
    title: str,
    text: str,
    filename: str = "pipeline.png",
) -> ChartResult:
    """Upload the PNG to the command's channel, else to the member's DM (``files_upload_v2``:
    getUploadURLExternal, the upload, completeUploadExternal)."""
    errors: list[str] = []
    for direct in (False, True):
        if not direct and not channel_id:
            continue
        try:
            channel = _dm(client, user_id) if direct else channel_id
            client.files_upload_v2(
                channel=channel,
                file=png,
                filename=filename,
                title=title,
                initial_comment=text,
            )
            return ChartResult(channel, direct, None)
        except (SlackClientError, OSError, KeyError, TypeError) as e:
            errors.append(_slack_error(e))
            log.warning("%s upload (direct=%s) failed: %s", filename, direct, errors[-1])
    return ChartResult(None, False, ", ".join(dict.fromkeys(errors)) or "no channel")


def draw(analysis: Analysis, currency: str, title: str) -> bytes:
    from bot import charts  # matplotlib loads with the first chart, not with the web process

    bars = [
        charts.StageBar(stage_name(s.stage), s.amount, s.weighted_amount)
        for s in analysis.summary.stages
    ]
    return charts.pipeline_chart(bars, currency=currency, title=title)


def render(
    actor: Actor,
    analysis: Analysis,
    currency: str,
    *,
    public: bool,
    share: Scope | None = None,
    note: Block | None = None,
) -> dict[str, Any]:
    title, _ = titles(actor, analysis.summary, public=public)
    blocks = pipeline_blocks(
        title=title,
        summary=analysis.summary,
        speed=analysis.speed,
        outcome=analysis.outcome,
        currency=currency,
        share_value=share.to_value() if share is not None else None,
        note=note,
    )
    return {"blocks": blocks, "text": pipeline_text(title, analysis.summary, currency)}


@handles("pipeline")
def pipeline(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    scope = parse_scope(cmd, actor, ctx)
    analysis = analyse(actor, scope)
    currency = ctx.company.currency
    _, chart_title = titles(actor, analysis.summary, public=True)
    try:
        png = draw(analysis, currency, chart_title)
    except Exception:  # a drawing bug must not cost the member the numbers
        log.exception("request %s: the pipeline chart could not be drawn", ctx.request_id)
        result = ChartResult(None, False, "the chart could not be drawn")
    else:
        result = post_chart(
            ctx.client,
            channel_id=ctx.channel_id,
            user_id=ctx.user_id,
            png=png,
            title=chart_title,
            text=pipeline_text(chart_title, analysis.summary, currency),
        )
    note = chart_note(
        channel=result.channel, direct=result.direct, error=result.error, summary=analysis.summary
    )
    message = render(actor, analysis, currency, public=False, share=scope, note=note)
    return ephemeral(message["blocks"], message["text"])


@handles("pipeline", "winloss")
def winloss(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    """Win/loss of the caller's deals, a member's or the team's (SPEC 7), with members named."""
    scope = parse_scope(cmd, actor, ctx)
    outcome = win_loss(
        actor, member_id=scope.member_id, team=scope.team, period_days=scope.period_days
    )
    people = people_of(actor, {g.key for g in outcome.by_member if isinstance(g.key, int)})
    summary = pipeline_summary(actor, member_id=scope.member_id, team=scope.team)
    title, _ = titles(actor, summary, public=False)
    blocks = winloss_blocks(title.replace(" pipeline", ""), outcome, people, ctx.company.currency)
    return ephemeral(blocks, f"{title}: won and lost in the last {outcome.period_days} days")
