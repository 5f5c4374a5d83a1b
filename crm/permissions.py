"""The one place that decides who may do what (SPEC 10).

- reps edit their own and unassigned records and read everything of their company;
- managers edit every record and see team analytics;
- admins also manage roles, segments, campaigns, tokens and settings.
API tokens act for an integration: they edit any record and manage segments and campaigns,
but never roles, tokens or settings. The system actor (CLI, workers) may do anything.
A refusal names the role it needs.
"""

from __future__ import annotations

from typing import Any

from crm.actors import Actor
from crm.errors import PermissionDenied

RANK = {"rep": 0, "manager": 1, "admin": 2}

# capability -> minimum member role; tokens get the capabilities in TOKEN_CAPABILITIES
CAPABILITIES = {
    "edit_any": "manager",
    "team_analytics": "manager",
    "manage_roles": "admin",
    "manage_segments": "admin",
    "manage_campaigns": "admin",
    "manage_tokens": "admin",
    "manage_settings": "admin",
}
TOKEN_CAPABILITIES = frozenset(
    {"edit_any", "team_analytics", "manage_segments", "manage_campaigns"}
)

DESCRIPTIONS = {
    "edit_any": "edit records assigned to someone else",
    "team_analytics": "see the team's pipeline",
    "manage_roles": "change roles",
    "manage_segments": "manage segments",
    "manage_campaigns": "manage campaigns",
    "manage_tokens": "manage API tokens",
    "manage_settings": "change company settings",
}


def has(actor: Actor, capability: str) -> bool:
    if actor.kind == "system":
        return True
    if actor.kind == "token":
        return capability in TOKEN_CAPABILITIES
    return RANK.get(actor.role, -1) >= RANK[CAPABILITIES[capability]]


def require(actor: Actor, capability: str) -> None:
    if not has(actor, capability):
        needed = CAPABILITIES[capability]
        raise PermissionDenied(
            f"Only {needed}s{' and admins' if needed == 'manager' else ''} may "
            f"{DESCRIPTIONS[capability]}; your role is {actor.role}."
        )


def can_edit(actor: Actor, record: Any) -> bool:
    """Own or unassigned records for reps; anything for managers, admins, tokens, system."""
    if has(actor, "edit_any"):
        return True
    owner = getattr(record, "assigned_to_id", None)
    return owner is None or owner == actor.member_id


def require_edit(actor: Actor, record: Any, label: str) -> None:
    if not can_edit(actor, record):
        raise PermissionDenied(
            f"{label} is assigned to someone else; only its assignee, managers and admins "
            f"may change it (your role is {actor.role})."
        )
