"""``crm chat`` (SPEC 5.5), registered with :func:`crm.cli.command` from here so that ``crm/``
never imports Slack: this module imports the Bolt side only inside the command."""

from __future__ import annotations

import argparse

from crm.cli import _company, command, connect
from crm.config import load_settings
from crm.errors import NotFound
from crm.models import Company, Member

DEMO_TEAM = "TDEMO"


def _configure_chat(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--team",
        metavar="TEAM_ID",
        help=f"Slack team id of the workspace (default {DEMO_TEAM}, or the only one)",
    )
    p.add_argument(
        "--as",
        dest="user",
        metavar="USER_ID",
        help="Slack user id of the member to act as (default: the workspace's first rep)",
    )


def chat_member(team: str | None, user: str | None) -> Member:
    """Who the terminal speaks as: ``--as`` in ``--team`` (the demo workspace by default, else
    the only one), or that workspace's first rep."""
    if team is None and Company.get_or_none(Company.team_id == DEMO_TEAM) is not None:
        team = DEMO_TEAM
    company = _company(team)
    members = Member.scoped(company.id).where(Member.is_active == True)  # noqa: E712
    if user:
        member = members.where(Member.slack_user_id == user.strip()).first()
        if member is None:
            known = ", ".join(m.slack_user_id for m in members.order_by(Member.id).limit(10))
            raise NotFound(
                f"no member {user!r} in {company.team_id}"
                + (f"; members include {known}" if known else "")
            )
        return member
    member = (
        members.where(Member.role == "rep").order_by(Member.id).first()
        or members.order_by(Member.id).first()
    )
    if member is None:
        raise NotFound(
            f"workspace {company.team_id} has no members yet: pass --as USER_ID or run `crm demo`"
        )
    return member


@command("chat", "talk to the bot in this terminal, as a workspace member", _configure_chat)
def _chat(args: argparse.Namespace) -> int:
    from bot.chat import run

    settings = load_settings()
    connect()
    return run(settings, chat_member(args.team, args.user))
