"""The form of ``CRM_SECRET_KEY``: one or more Fernet keys, the current one first.

Kept apart from :mod:`crm.encryption` so that the settings (:mod:`crm.config`) can check the
variable at start-up without importing the module that reads the settings on first use.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet, MultiFernet

KEY_FORM = (
    "one or more Fernet keys separated by commas, the current one first (each 32 random "
    "bytes in URL-safe base64, 44 characters; make one with `crm secrets new-key`)"
)


def parse_keys(raw: str) -> MultiFernet:
    """The key set of ``CRM_SECRET_KEY``; :class:`ValueError` naming the bad key otherwise."""
    keys = [k.strip() for k in raw.split(",")]
    if not any(keys):
        raise ValueError(f"is empty; expected {KEY_FORM}")
    fernets = []
    for n, key in enumerate(keys, 1):
        try:
            if len(base64.urlsafe_b64decode(key.encode("ascii"))) != 32:
                raise ValueError
            fernets.append(Fernet(key))
        except (ValueError, binascii.Error, UnicodeEncodeError):
            where = "" if len(keys) == 1 else f" (key {n} of {len(keys)})"
            raise ValueError(f"is not valid{where}; expected {KEY_FORM}") from None
    return MultiFernet(fernets)
