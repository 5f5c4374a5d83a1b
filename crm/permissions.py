"""The one place that decides who may do what (SPEC 10).

- reps edit their own and unassigned records and read everything of their company;
- managers edit every record and see team analytics;
- managers also run campaigns;
- admins also manage roles, segments, tokens and settings.
API tokens act for an integration: they edit any record and manage segments and campaigns,
but never roles, tokens or settings. The system actor (CLI, workers) may do anything.
A refusal names the role it needs.

Undo (:func:`require_undo`) is decided here too, as "may this actor make that change now":
an Undo is a change like any other, so it must never let someone do what they could not do
directly (a manager undoing an admin's role change would otherwise restore an admin).
"""

from __future__ import annotations

from typing import Any

from crm.acting import Actor
from crm.errors import PermissionDenied

RANK = {"rep": 0, "manager": 1, "admin": 2}

# capability -> minimum member role; tokens get the capabilities in TOKEN_CAPABILITIES
CAPABILITIES = {
    "edit_any": "manager",
    "team_analytics": "manager",
    "manage_roles": "admin",
    "manage_segments": "admin",
    "manage_campaigns": "manager",
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


# audited entity types whose changes need a capability beyond editing records
_ENTITY_CAPABILITY = {
    "company": "manage_settings",
    "member": "manage_roles",
    "segment": "manage_segments",
    "campaign": "manage_campaigns",
    "token": "manage_tokens",
}


def require_undo(actor: Actor, *, author: bool, changed: list[tuple[str, Any]]) -> None:
    """May ``actor`` undo a change, i.e. make that change now (SPEC 10)? ``changed`` lists
    what the change touched as (entity type, record), the record it was about first (records
    as they are now, or as the undo would bring them back).

    - settings, roles, segments, campaigns, tokens: only whoever may manage them now, the
      author included (an admin demoted since may no longer undo their role change);
    - records: the author only while they may still edit the record the change was about
      (what it touched besides, such as "last contacted" of a lead a call was logged on,
      never needed that right); anyone else only if their role edits records of others
      (managers, admins, tokens).
    """
    for entity_type, _record in changed:
        capability = _ENTITY_CAPABILITY.get(entity_type)
        if capability is not None and not has(actor, capability):
            needed = CAPABILITIES[capability]
            raise PermissionDenied(
                f"Only {needed}s may undo this: it needs the right to "
                f"{DESCRIPTIONS[capability]}; your role is {actor.role}."
            )
    records = [(t, r) for t, r in changed if t not in _ENTITY_CAPABILITY]
    if not records:
        return
    if author:
        main_type, main = changed[0]
        if main_type not in _ENTITY_CAPABILITY and main is not None and not can_edit(actor, main):
            raise PermissionDenied(
                "You may no longer change this record, so you may not undo your change "
                f"(it is assigned to someone else; your role is {actor.role})."
            )
        return
    if not has(actor, "edit_any"):
        raise PermissionDenied(
            "Only the person who made a change, managers and admins may undo it; "
            f"your role is {actor.role}."
        )
