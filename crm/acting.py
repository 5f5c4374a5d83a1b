"""Who is acting: a member (Slack), an API token, or the system (CLI, workers).

Every use case takes an :class:`Actor` first; it carries the company that scopes every query
(rule 8), the role that permissions check, and the origin the audit log records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crm.models import ApiToken, Member

ActorKind = Literal["member", "token", "system"]
Origin = Literal["slack", "api", "cli", "worker"]


@dataclass(frozen=True)
class Actor:
    company_id: int
    kind: ActorKind
    origin: Origin
    role: str = "rep"
    member_id: int | None = None
    token_id: int | None = None
    label: str = ""
    tz: str = "UTC"
    scope: str = "write"  # API tokens: "read" tokens may not change anything (SPEC 8)

    @classmethod
    def for_member(cls, member: Member, origin: Origin = "slack") -> Actor:
        return cls(
            company_id=member.company_id,
            kind="member",
            origin=origin,
            role=member.role,
            member_id=member.id,
            label=member.name or member.slack_user_id,
            tz=member.tz or "UTC",
        )

    @classmethod
    def for_token(cls, token: ApiToken) -> Actor:
        return cls(
            company_id=token.company_id,
            kind="token",
            origin="api",
            role="integration",
            token_id=token.id,
            label=f"token {token.name}",
            scope=token.scope,
        )

    @classmethod
    def system(cls, company_id: int, origin: Origin = "worker", tz: str = "UTC") -> Actor:
        return cls(
            company_id=company_id,
            kind="system",
            origin=origin,
            role="system",
            label="system",
            tz=tz,
        )
