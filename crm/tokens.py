"""API tokens for the JSON API (SPEC 8, 10): made by admins, stored hashed, shown once.

Why a hash and no salt: a token is 256 random bits, so a rainbow table is hopeless and a plain
SHA-256 lets :func:`authenticate` find the row with one indexed equality lookup instead of
trying a slow KDF against every row. The plaintext exists only in the return value of
:func:`create_token`; it is never stored, logged or put in the audit trail (the audit row
carries the hash and the display prefix, which are useless to an attacker).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from crm import permissions
from crm.acting import Actor
from crm.audit import change, snapshot
from crm.clock import utcnow
from crm.errors import Conflict, ValidationError
from crm.models import ApiToken
from crm.parsing import check_text
from crm.sql_cache import Statement
from crm.tenancy import fetch

TOKEN_PREFIX = "crm_"
DISPLAY_LENGTH = 12  # "crm_" + 8 characters: enough to tell tokens apart, useless to guess
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 200  # longer "tokens" are refused before hashing a megabyte of junk
SCOPES = ("read", "write")  # read: GET only; write: everything an integration may do

__all__ = ["authenticate", "create_token", "hash_token", "list_tokens", "revoke_token"]


# every API request runs it: rendered once, prepared on PostgreSQL (crm.sql_cache)
_BY_HASH = Statement(
    lambda digest: (
        ApiToken.unscoped(why="the token is what tells which company is asking")
        .where(ApiToken.token_hash == digest)
        .limit(1)
    )
)


def hash_token(plaintext: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _clean_name(name: str | None) -> str:
    text = (name or "").strip()
    if not text:
        raise ValidationError("name", "a token needs a name", hint='--name "website form"')
    check_text(text, "name", hint='--name "website form"')
    if len(text) > 100 or not text.isprintable():
        raise ValidationError(
            "name", "at most 100 printable characters", hint='--name "website form"'
        )
    return text


def create_token(actor: Actor, name: str, scope: str = "write") -> tuple[ApiToken, str]:
    """Make a token for the actor's company; returns the row and the plaintext (shown once).

    Admins and the system (CLI) only: a ``write`` token can edit every record of the company;
    a ``read`` token may only read (the JSON API answers 403 to its writes).
    """
    permissions.require(actor, "manage_tokens")
    label = _clean_name(name)
    if scope not in SCOPES:
        raise ValidationError("scope", f"must be {' or '.join(SCOPES)}", hint="--scope read")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with change(actor) as ch:
        token = ApiToken.create(
            company=actor.company_id,
            name=label,
            token_hash=hash_token(plaintext),
            prefix=plaintext[:DISPLAY_LENGTH],
            scope=scope,
        )
        ch.created(token)
    token.change_id = ch.change_id
    return token, plaintext


def authenticate(plaintext: object) -> Actor | None:
    """The actor a presented bearer token stands for, or None (unknown, revoked, malformed).

    Lookup is by the hash, so response time does not depend on how much of a guessed token
    matches a real one; the final comparison is constant-time anyway. ``last_used_at`` is
    written at most once a minute per token, so a busy integration does not turn every API
    read into a write.
    """
    if not isinstance(plaintext, str):
        return None
    plaintext = plaintext.strip()
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(plaintext)
    found = _BY_HASH.models(ApiToken, digest=digest)
    token = found[0] if found else None
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests in the same minute write once between them.
        (
            ApiToken.scoped_update(token, last_used_at=now)
            .where(
                (ApiToken.id == token.id)
                & (
                    ApiToken.last_used_at.is_null()
                    | (ApiToken.last_used_at <= now - LAST_USED_RESOLUTION)
                )
            )
            .execute()
        )
        token.last_used_at = now
    return Actor.for_token(token)


def list_tokens(actor: Actor) -> list[ApiToken]:
    """The company's tokens, newest first, revoked ones included (an admin wants to see both)."""
    permissions.require(actor, "manage_tokens")
    return list(ApiToken.scoped(actor).order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))


def revoke_token(actor: Actor, token_id: int) -> ApiToken:
    """Revoke one of the company's tokens; it stops authenticating at once.

    A token of another company is "not found" (rule 8); revoking twice is refused so an
    operator notices they are looking at the wrong id.
    """
    permissions.require(actor, "manage_tokens")
    with change(actor) as ch:
        token = fetch(ApiToken, actor, token_id, "token")
        if token.revoked_at is not None:
            raise Conflict(f"token {token.id} ({token.name}) was already revoked")
        before = snapshot(token)
        token.revoked_at = utcnow()
        token.save()
        ch.updated(token, before, action="revoke")
    token.change_id = ch.change_id
    return token
