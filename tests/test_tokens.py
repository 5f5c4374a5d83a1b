"""API tokens: stored hashed, shown once, revocable, scoped to one company (SPEC 8, 10)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine

from crm.audit import history
from crm.clock import utcnow
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.models import ApiToken, AuditLog
from crm.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.conftest import Workspace


def test_token_is_stored_as_hash_only_and_authenticates(acme: Workspace) -> None:
    token, plaintext = create_token(acme.actor(acme.admin), "website form")

    assert plaintext.startswith("crm_") and len(plaintext) > 40
    row = ApiToken.get_by_id(token.id)
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {row.token_hash, row.prefix, row.name}
    assert plaintext.startswith(row.prefix) and len(row.prefix) < 16
    # nor anywhere in the audit trail
    audit_text = " ".join(str(a.changes) for a in AuditLog.select())
    assert plaintext not in audit_text
    assert [a.action for a in history(acme.system, "token", token.id)] == ["create"]

    actor = authenticate(plaintext)
    assert actor is not None
    assert (actor.company_id, actor.kind, actor.token_id, actor.origin) == (
        acme.company.id,
        "token",
        token.id,
        "api",
    )


@pytest.mark.parametrize(
    "presented",
    [None, "", "crm_", "crm_wrong", "Bearer crm_x", "x" * 5000, 12345, "crm_" + "a" * 300],
)
def test_unknown_or_malformed_tokens_are_refused(acme: Workspace, presented: object) -> None:
    create_token(acme.system, "real")
    assert authenticate(presented) is None


def test_revoked_token_is_rejected_and_revoke_is_audited(acme: Workspace) -> None:
    token, plaintext = create_token(acme.system, "shop")
    revoked = revoke_token(acme.actor(acme.admin), token.id)

    assert revoked.revoked_at is not None
    assert authenticate(plaintext) is None
    assert [a.action for a in history(acme.system, "token", token.id)] == ["revoke", "create"]
    with pytest.raises(Conflict, match="already revoked"):
        revoke_token(acme.system, token.id)


def test_other_company_token_cannot_touch_this_company(acme: Workspace, globex: Workspace) -> None:
    acme_token, _ = create_token(acme.system, "acme shop")
    globex_token, globex_plain = create_token(globex.system, "globex shop")

    globex_actor = authenticate(globex_plain)
    assert globex_actor is not None and globex_actor.company_id == globex.company.id
    # a token may not manage tokens at all, let alone another company's
    with pytest.raises(PermissionDenied):
        revoke_token(globex_actor, acme_token.id)
    # Globex's admin cannot see or revoke Acme's token: it is "not found"
    with pytest.raises(NotFound):
        revoke_token(globex.actor(globex.admin), acme_token.id)
    assert [t.id for t in list_tokens(globex.actor(globex.admin))] == [globex_token.id]
    assert ApiToken.get_by_id(acme_token.id).revoked_at is None


def test_only_admins_manage_tokens(acme: Workspace) -> None:
    for member in (acme.rep, acme.manager):
        with pytest.raises(PermissionDenied, match="admin"):
            create_token(acme.actor(member), "mine")
        with pytest.raises(PermissionDenied):
            list_tokens(acme.actor(member))
    assert ApiToken.select().count() == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bad\x00name"])
def test_token_name_is_validated(acme: Workspace, name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        create_token(acme.system, name)
    assert ApiToken.select().count() == 0


def test_last_used_at_is_written_at_most_once_a_minute(acme: Workspace) -> None:
    token, plaintext = create_token(acme.system, "busy integration")
    start = utcnow()
    with time_machine.travel(start, tick=False):
        assert authenticate(plaintext) is not None
    assert ApiToken.get_by_id(token.id).last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert authenticate(plaintext) is not None
    assert ApiToken.get_by_id(token.id).last_used_at == start

    later = start + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert authenticate(plaintext) is not None
    assert ApiToken.get_by_id(token.id).last_used_at == later


def test_list_tokens_shows_newest_first_with_revoked(acme: Workspace) -> None:
    first, _ = create_token(acme.system, "first")
    create_token(acme.system, "second")
    revoke_token(acme.system, first.id)
    listed = list_tokens(acme.system)
    assert [t.name for t in listed] == ["second", "first"]
    assert [t.revoked_at is not None for t in listed] == [False, True]
