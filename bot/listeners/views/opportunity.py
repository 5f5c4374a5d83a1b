"""The New opportunity modal's submission (``/crm opp``): the fields of ``/crm opp add``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks.modals import OPP_VIEW
from bot.listeners.views.submission import Created, Submission, handle, required
from crm import opportunities
from crm.models import Opportunity
from crm.parsing import parse_date, parse_money, parse_percent, parse_ref
from crm.tenancy import ref_label


def prepare(sub: Submission) -> Callable[[], Opportunity]:
    whose = parse_ref(
        required(sub, "ref", "a customer or lead", "C3 or L12"), "ref", kinds=("customer", "lead")
    )
    prob, close = sub.text("prob"), sub.text("close")
    return partial(
        opportunities.create_opportunity,
        sub.actor,
        name=required(sub, "name", "a name", "Acme renewal"),
        customer_id=whose.id if whose.kind == "customer" else None,
        lead_id=whose.id if whose.kind == "lead" else None,
        amount=parse_money(required(sub, "amount", "an amount", "120k"), "amount"),
        probability=None if prob is None else parse_percent(prob, "prob"),
        stage=sub.text("stage") or "prospecting",
        expected_close_date=None if close is None else _day(close, sub.actor.tz),
        assigned_to_id=sub.assignee(),
    )


def _day(text: str, tz: str) -> date:
    return parse_date(text, "close", tz)


def describe(opp: Opportunity) -> Created:
    return Created(ref_label("opportunity", opp.id), opp.name, opp.change_id)


def submit(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    handle(
        ack,
        body,
        context,
        client,
        model=Opportunity,
        prepare=prepare,
        describe=describe,
        default_block="name",
    )


def register(app: App) -> None:
    app.view(OPP_VIEW)(submit)
