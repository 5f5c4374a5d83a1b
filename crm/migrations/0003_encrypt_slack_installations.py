"""Encrypt the Slack installations stored in plaintext before CRM_SECRET_KEY existed.

A data migration, no schema change: ``bot_token`` and ``data`` stay TEXT and hold
``fernet:...`` values from now on (``crm.encryption``). The key comes from the environment
(or ``.env``) as ``CRM_SECRET_KEY``, the same setting every process reads. Without a key:
nothing to do when no installation is stored (single-workspace installs never store one); with
installations stored, the migration stops with one line asking for the key, and nothing is
marked applied, so ``crm migrate`` can be run again once it is set.
"""

from crm import encryption


def up(migrator, db):
    rows = db.execute_sql('SELECT id, bot_token, data FROM slack_installations').fetchall()
    pending = [
        (row_id, token, data)
        for row_id, token, data in rows
        if (token is not None and not encryption.is_encrypted(token))
        or (data is not None and not encryption.is_encrypted(data))
    ]
    param = db.param
    for row_id, token, data in pending:
        db.execute_sql(
            f'UPDATE slack_installations SET bot_token = {param}, data = {param} '
            f'WHERE id = {param}',
            (encryption.rotate(token), encryption.rotate(data), row_id),
        )


def down(migrator, db):
    """Secrets are not written back in plaintext."""
