"""``crm secrets rotate``: re-encrypt the stored secrets with the current key.

Apart from :mod:`crm.encryption` (which the models' encrypted fields use) so that encryption
imports no model and :mod:`crm.models` imports nothing that imports it back.
"""

from __future__ import annotations

from crm import encryption
from crm.db import database
from crm.models import SlackInstallation


def rotate_all() -> int:
    """Re-encrypt every stored secret with the current key (``crm secrets rotate``), in one
    transaction; values still in plaintext get encrypted. Returns the rows rewritten.

    Reading a row decrypts with any of the keys, writing encrypts with the first: after this,
    the old keys can leave ``CRM_SECRET_KEY``.
    """
    encryption.require_key()  # no key: refuse before touching anything
    count = 0
    with database.atomic():
        for row in SlackInstallation.select().order_by(SlackInstallation.id):
            SlackInstallation.update(bot_token=row.bot_token, data=row.data).where(
                SlackInstallation.id == row.id
            ).execute()
            count += 1
    return count
