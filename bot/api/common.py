"""Types and renderers shared by the resource modules: money, member references, pages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from flask import request
from pydantic import Field, StringConstraints

from bot.api.auth import company_info
from bot.api.core import MAX_ID, Schema
from crm.acting import Actor
from crm.errors import NotFound
from crm.models import CENT, Member
from crm.parsing import parse_date, parse_datetime
from crm.parsing.money import MAX_MONEY

Money = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_MONEY,
        decimal_places=2,
        allow_inf_nan=False,
        description='an amount in the company currency: 50000, 1200.5 or "50000.00"',
    ),
]
MemberRef = Annotated[
    # the number bounded as ids are: a 35-digit one overflowed the database driver (a 500)
    Annotated[int, Field(ge=1, le=MAX_ID)]
    | Annotated[str, StringConstraints(min_length=1, max_length=32)],
    Field(description="a member's number or Slack user id (U0123ABCD)"),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
Tags = Annotated[list[Annotated[str, StringConstraints(max_length=50)]], Field(max_length=20)]
Moment = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40),
    Field(description='a date and time: "2026-02-12 14:30:00", ISO 8601, or "tomorrow 3pm"'),
]
Day = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40),
    Field(description='a date: "2026-03-31" (or "today", "next friday")'),
]


class PageQuery(Schema):
    """``?limit=`` (1-500, default 50) and the cursor ``?after=`` from the previous page's
    ``next``. Pages are in ascending ``id`` order, so records created while a client walks
    the pages come at the end and nothing is seen twice."""

    model_config = Schema.model_config | {"extra": "ignore"}

    limit: int = Field(50, ge=1, le=500)
    after: int | None = Field(None, ge=0, le=MAX_ID, description="the cursor from `next`")


class CreateQuery(Schema):
    model_config = Schema.model_config | {"extra": "ignore"}

    allow_duplicate: bool = Field(
        False, description="create even when a likely duplicate exists (else 409 with its ref)"
    )


class NoQuery(Schema):
    model_config = Schema.model_config | {"extra": "ignore"}


def iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value.isoformat()


def money(value: Decimal | None) -> str | None:
    """Money as decimal text with two places: exact sums such as a weighted amount
    (amount x probability / 100) are rounded half-up to the cent for the answer."""
    return None if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def currency(actor: Actor) -> str:
    return company_info(actor.company_id)[0]


def moment(actor: Actor, text: str | None, field: str) -> datetime | None:
    """A date and time sent by a client, in the company's zone unless it carries an offset."""
    return None if text is None else parse_datetime(text, field, actor.tz)


def day(actor: Actor, text: str | None, field: str) -> date | None:
    return None if text is None else parse_date(text, field, actor.tz)


def member_id(actor: Actor, value: int | str | None, field: str = "assigned_to") -> int | None:
    """A member's number, or the number of the member with that Slack user id, inside the
    token's company (rule 8: another workspace's member is "not found")."""
    if value is None or isinstance(value, int):
        return value
    member = Member.scoped(actor).where(Member.slack_user_id == value.strip().upper()).first()
    if member is None or not member.is_active:
        raise NotFound(f"{field}: that member was not found in this workspace", field=field)
    return member.id


def page(records: list[Any], limit: int, render: Any) -> dict[str, Any]:
    """``{"data": [...], "next": url or null}``; ``records`` holds up to ``limit + 1`` rows
    (the extra one only says that another page exists)."""
    more = len(records) > limit
    shown = records[:limit]
    nxt = None
    if more:
        args = {k: v for k, v in request.args.items() if k != "after"}
        args["after"] = str(shown[-1].id)
        nxt = f"{request.host_url.rstrip('/')}{request.path}?{urlencode(args)}"
    return {"data": [render(r) for r in shown], "next": nxt}
