"""Secrets at rest (SPEC 10): the Slack tokens of OAuth installs and webhook URLs, encrypted
with ``CRM_SECRET_KEY``.

Why ``cryptography``'s Fernet, wrapped in MultiFernet, and nothing of our own: Fernet is
authenticated encryption (AES-CBC plus HMAC-SHA256) in a versioned token format, so a value
that was tampered with or read with the wrong key fails loudly instead of decrypting to
garbage; MultiFernet decrypts with any of several keys and encrypts with the first, which is
exactly key rotation (``CRM_SECRET_KEY=new,old`` then ``crm secrets rotate``).

A stored secret is ``fernet:`` followed by the token, so a value says whether it is
encrypted: migration 0003 and ``crm secrets rotate`` find values still in plaintext (written
before this module existed) and encrypt them, and reading one of those returns it as it is
until then.

The key set is the process's (:func:`crm.runtime.current`): its composition root installs
it, and a process that installed nothing reads ``CRM_SECRET_KEY`` from its environment on
first use, so the web process, workers, the CLI and migrations all use the same key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from crm import runtime
from crm.secret_keys import KEY_FORM as KEY_FORM  # (re-exported: callers read them here)
from crm.secret_keys import parse_keys as parse_keys

PREFIX = "fernet:"


class SecretsError(Exception):
    """One line for the operator: the key is missing, malformed or not the one used."""


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def signing_keys() -> tuple[str, ...]:
    """The same keys, the current one first, for signing rather than encrypting (campaign
    tracking tokens); empty without ``CRM_SECRET_KEY``."""
    return runtime.current().signing_keys


def require_key() -> MultiFernet:
    """The process's key set; refuses without one."""
    box = runtime.current().box
    if box is None:
        raise SecretsError(
            "CRM_SECRET_KEY is required: it encrypts Slack tokens of OAuth installs at rest "
            f"({KEY_FORM})"
        )
    return box


def is_encrypted(stored: str | None) -> bool:
    return isinstance(stored, str) and stored.startswith(PREFIX)


def encrypt(text: str) -> str:
    return PREFIX + require_key().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    """The plaintext of a stored value; a value from before encryption comes back as it is."""
    if not is_encrypted(stored):
        return stored
    try:
        return require_key().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretsError(
            "a stored secret cannot be decrypted with CRM_SECRET_KEY: keep the key it was "
            "encrypted with in the list (after the new one) until `crm secrets rotate` ran"
        ) from None


def rotate(stored: str | None) -> str | None:
    """Re-encrypted with the current key (plaintext gets encrypted); ``None`` stays ``None``."""
    if stored is None:
        return None
    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        token = require_key().rotate(stored[len(PREFIX) :].encode("ascii"))
    except InvalidToken:
        decrypt(stored)  # raises the operator's message
        raise
    return PREFIX + token.decode("ascii")


def encrypt_json(value: Any) -> str:
    return encrypt(json.dumps(value, sort_keys=True, default=str))


def decrypt_json(stored: str) -> Any:
    return json.loads(decrypt(stored))
