"""Slack secrets at rest (SPEC 10, issue 10 finding 2), on both databases: an OAuth install
over real HTTP stores no token or webhook URL in plaintext, the bot answers with the stored
token, ``crm secrets rotate`` moves every secret to the new key and the bot keeps working on
that key alone, and migration 0003 encrypts rows stored in plaintext before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet

from crm import encryption, runtime
from crm.models import SlackInstallation
from crm.schema import migrate
from tests.admin_support import answer_text
from tests.conftest import TEST_SECRET_KEY
from tests.e2e_support import SlackClient, SlackUserRef, WebProcess, http, start_web
from tests.slack_fake import FakeSlack, SlackUser

if TYPE_CHECKING:
    from tests.conftest import TestDB

pytestmark = pytest.mark.slow

BOT = "xoxb-installed-secret"
SECRETS = {
    "bot token": BOT,
    "bot refresh token": "xoxe-1-bot-refresh-secret",
    "user token": "xoxp-user-secret",
    "user refresh token": "xoxe-1-user-refresh-secret",
    "incoming webhook": "https://hooks.slack.com/services/T1/B1/webhook-secret",
}


def oauth_access(call: Any) -> dict[str, Any]:
    """What Slack answers to ``oauth.v2.access`` for an install with token rotation, a user
    scope and an incoming webhook: every kind of secret an installation holds."""
    return {
        "ok": True,
        "access_token": BOT,
        "refresh_token": SECRETS["bot refresh token"],
        "expires_in": 43200,
        "token_type": "bot",
        "scope": "commands,chat:write",
        "bot_user_id": "UBOT",
        "app_id": "A1",
        "team": {"id": "TNEW", "name": "New"},
        "enterprise": None,
        "authed_user": {
            "id": "UINSTALLER",
            "scope": "identify",
            "access_token": SECRETS["user token"],
            "refresh_token": SECRETS["user refresh token"],
            "expires_in": 43200,
            "token_type": "user",
        },
        "incoming_webhook": {
            "channel": "#sales",
            "channel_id": "C0SALES",
            "configuration_url": "https://new.slack.com/services/B1",
            "url": SECRETS["incoming webhook"],
        },
    }


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.handlers["oauth.v2.access"] = oauth_access
        fake.add_user(SlackUser("UNEWBIE", "New Person", team_id="TNEW", is_owner=True))
        yield fake


@pytest.fixture(autouse=True)
def test_key() -> Iterator[None]:
    """Tests here switch this process's key; the others expect the suite's key back."""
    previous = runtime.current()
    yield
    runtime.install(previous)


def raw_rows(db: TestDB) -> list[tuple[Any, ...]]:
    return db.database.execute_sql(
        "SELECT bot_token, data FROM slack_installations ORDER BY id"
    ).fetchall()


def install(web: WebProcess) -> None:
    start = http("GET", f"{web.url}/slack/install")
    assert start.status == 302, start.text
    state = start.headers["location"].split("state=")[1].split("&")[0]
    cookie = start.headers["set-cookie"].split(";")[0]
    done = http(
        "GET",
        f"{web.url}/slack/oauth_redirect?code=abc&state={state}",
        headers={"Cookie": cookie},
    )
    assert done.status == 200, done.text


def bot_answers(web: WebProcess, fake: FakeSlack) -> None:
    """A /crm command from the new workspace is answered, and the Web API calls it needed
    carry the token from the database."""
    before = len(fake.calls)
    body = SlackClient(web).command("help", SlackUserRef("UNEWBIE", "TNEW", "new")).json()
    assert "/crm lead add" in answer_text(body)
    tokens = {c.token for c in fake.calls[before:] if c.method not in ("response_url",)}
    assert tokens == {BOT}, tokens


def crm_cli(db: TestDB, tmp_path: Path, *args: str, key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "SLACK_"))}
    env["DATABASE_URL"] = db.url
    if key is not None:
        env["CRM_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_oauth_install_stores_secrets_encrypted_and_rotation_keeps_the_bot_working(
    db: TestDB, fake: FakeSlack, tmp_path: Path
) -> None:
    with start_web(db.url, fake, tmp_path, oauth=True) as web:
        install(web)
        ((token, data),) = raw_rows(db)
        for what, secret in SECRETS.items():
            assert secret not in f"{token} {data}", f"{what} stored in plaintext"
        assert token.startswith("fernet:") and data.startswith("fernet:")
        # what the installation store reads back is what Slack sent
        row = SlackInstallation.get(SlackInstallation.team_id == "TNEW")
        assert row.bot_token == BOT
        assert row.data["user_token"] == SECRETS["user token"]
        assert row.data["bot_refresh_token"] == SECRETS["bot refresh token"]
        assert row.data["user_refresh_token"] == SECRETS["user refresh token"]
        assert row.data["incoming_webhook_url"] == SECRETS["incoming webhook"]
        bot_answers(web, fake)

    # rotate: the new key first, the old one still listed so the old rows can be read
    new = encryption.new_key()
    rotated = crm_cli(db, tmp_path, "secrets", "rotate", key=f"{new},{TEST_SECRET_KEY}")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 Slack installation(s)" in rotated.stdout
    ((token2, data2),) = raw_rows(db)
    assert token2 != token and data2 != data
    assert Fernet(new).decrypt(token2.removeprefix("fernet:").encode()).decode() == BOT
    secrets = json.loads(Fernet(new).decrypt(data2.removeprefix("fernet:").encode()))
    assert secrets["incoming_webhook_url"] == SECRETS["incoming webhook"]

    # the old key can go: the web process runs on the new key alone
    with start_web(db.url, fake, tmp_path, oauth=True, extra_env={"CRM_SECRET_KEY": new}) as web:
        bot_answers(web, fake)
        assert "Traceback" not in web.log()


def test_rotation_without_a_key_or_with_the_wrong_key_is_refused_in_one_line(
    db: TestDB, tmp_path: Path
) -> None:
    SlackInstallation.create(team_id="TOLD", bot_token=BOT, data={"user_token": "xoxp-1"})
    before = raw_rows(db)
    missing = crm_cli(db, tmp_path, "secrets", "rotate", key=None)
    assert missing.returncode == 2
    assert "CRM_SECRET_KEY is required" in missing.stderr and "Traceback" not in missing.stderr
    wrong = crm_cli(db, tmp_path, "secrets", "rotate", key=encryption.new_key())
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "cannot be decrypted with CRM_SECRET_KEY" in wrong.stderr
    assert raw_rows(db) == before
    key = crm_cli(db, tmp_path, "secrets", "new-key", key=None)
    assert key.returncode == 0 and encryption.parse_keys(key.stdout.strip().splitlines()[-1])


def test_migration_0003_encrypts_installations_stored_in_plaintext(
    db: TestDB, tmp_path: Path
) -> None:
    plain_data = json.dumps({"user_token": SECRETS["user token"], "team_name": "Old"})
    param = db.database.param
    db.database.execute_sql(
        "INSERT INTO slack_installations (created_at, updated_at, client_id, team_id, "
        f"user_id, bot_token, data, installed_at) VALUES ({', '.join([param] * 8)})",
        ("2026-01-01", "2026-01-01", "111.222", "TOLD", "U1", BOT, plain_data, "2026-01-01"),
    )
    db.database.execute_sql(f"DELETE FROM schema_migration WHERE name LIKE {param}", ("0003_%",))
    # without the key, a database holding installations is not migrated, in one line
    refused = crm_cli(db, tmp_path, "migrate", key=None)
    assert refused.returncode == 2, refused.stdout
    assert "CRM_SECRET_KEY is required" in refused.stderr and "Traceback" not in refused.stderr
    assert raw_rows(db) == [(BOT, plain_data)]

    done = crm_cli(db, tmp_path, "migrate", key=TEST_SECRET_KEY)
    assert done.returncode == 0, done.stderr
    assert "0003_encrypt_slack_installations" in done.stdout
    ((token, data),) = raw_rows(db)
    assert token.startswith("fernet:") and BOT not in token
    assert SECRETS["user token"] not in data
    row = SlackInstallation.get(SlackInstallation.team_id == "TOLD")
    assert (row.bot_token, row.data["user_token"]) == (BOT, SECRETS["user token"])
    assert migrate(db.database) == []  # applied once
