"""Tracking tokens: what ``/t/...`` links and the Message-ID carry to name one recipient.

Each recipient row gets a random 128-bit value when the audience is materialised (drawn by the
database itself inside the one INSERT ... SELECT, so no Python loop runs per customer: see
:mod:`crm.campaigns.audience`). Links carry that value *signed* with ``CRM_SECRET_KEY``
(itsdangerous, already installed with Flask): a link cannot be forged or enumerated, and a
key rotation (``CRM_SECRET_KEY=new,old``) keeps old links working. The stored value alone is
what the Message-ID and the SMS ``Idempotency-Key`` are derived from, so a message resent
after a crash carries the same identity as its first copy.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from crm import encryption
from crm.errors import NotFound, ValidationError

_SALT = "crm.campaign.recipient"


def require_keys() -> None:
    """Refuse campaigns before any work when there is no key to sign their links with."""
    if not encryption.signing_keys():
        raise ValidationError(
            "CRM_SECRET_KEY", "is required for campaigns: it signs their tracking links"
        )


def _serializer() -> URLSafeSerializer:
    require_keys()
    # itsdangerous signs with the last key and verifies with any; ours lists the current first
    return URLSafeSerializer(list(reversed(encryption.signing_keys())), salt=_SALT)


def sign(raw: str) -> str:
    """The public token of a recipient whose stored token is ``raw``."""
    return _serializer().dumps(raw)


def unsign(public: str) -> str:
    """The stored token behind a public one; :class:`NotFound` for anything forged or bent
    (a tracking page answers 404, whatever was wrong)."""
    if not isinstance(public, str) or not 10 <= len(public) <= 200:
        raise NotFound("link not found")
    try:
        raw = _serializer().loads(public)
    except BadSignature:
        raise NotFound("link not found") from None
    if not isinstance(raw, str):
        raise NotFound("link not found")
    return raw


def message_id(raw: str, domain: str) -> str:
    """The Message-ID of a recipient's email: the same for every copy of it."""
    return f"<{raw}@{domain}>"
